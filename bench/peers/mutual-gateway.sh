#!/bin/sh
# mutual's gateway as a peer of ../shared/bench/run-peers.sh (see the PEER INTERFACE in its header):
#   ../shared/bench/run-peers.sh --peer "mutual|18410|$PWD/bench/peers/mutual-gateway.sh"
# Renders a gateway.yaml from the harness's environment (ECDSA chain on PEER_PORT, RSA-2048 chain on
# PEER_RSA_PORT, client certificates from $PKI_DIR/<chain>/root.crt admitted by their SPIFFE ID
# spiffe://bench.test/client, plain-HTTP upstream $BACKEND_ADDR) and runs the gateway in the foreground.
# PEER_WORKERS (1 in the harness's pinned layout, 2 in the shared one) becomes --workers: with more
# than one, the gateway is a node:cluster primary and its workers (all in the PID's process tree, so
# the harness charges their CPU to the peer and stops them with it).
# MUTUAL_NODE (or NODE_BIN, as the harness's node-min peer spells it) selects the Node binary that runs
# the gateway, e.g. a Node 24 with OpenSSL 3.5:
#   --peer "mutual24|18420|env MUTUAL_NODE=/opt/node24/package/bin/node $PWD/bench/peers/mutual-gateway.sh"
set -eu
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cfg="${PEER_RUN_DIR:?}/gateway.yaml"
listener() { # NAME PORT CHAIN
  cat <<YAML
  - name: $1
    listen: { host: 127.0.0.1, port: $2 }
    tls: { certificate: "$PKI_DIR/$3/server-chain.crt", key: "$PKI_DIR/$3/server.key" }
    clientAuth: { trustBundles: ["$PKI_DIR/$3/root.crt"] }
    routes:
      - name: all
        path: { prefix: / }
        allow: [{ spiffeId: spiffe://bench.test/client }]
        upstream: backend
        forwardIdentity: { xfcc: true, clientCert: false }
YAML
}
{
  echo "version: 1"
  echo "listeners:"
  listener ec "$PEER_PORT" ec
  listener rsa "${PEER_RSA_PORT:?}" rsa
  echo "upstreams:"
  echo "  backend: { url: \"http://${BACKEND_ADDR:?}\", maxSockets: 1024 }"
  echo "admin: { listen: { host: 127.0.0.1, port: 0 } }"
  echo "audit: { file: \"$PEER_RUN_DIR/audit.jsonl\" }"
  echo "watch: false"
} > "$cfg"
exec "${MUTUAL_NODE:-${NODE_BIN:-node}}" "$repo/packages/cli/dist/bin.js" gateway --config "$cfg" --workers "${PEER_WORKERS:-1}"
