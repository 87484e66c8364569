import type { ErrorSpec } from './types.js';

/** Error codes of the gateway (server/gateway, `mutual gateway`). A denial never says why: the audit log does. */
export const gatewayErrors = {
  ERR_GATEWAY_FORBIDDEN: {
    kind: 'refused',
    status: 403,
    message: 'Forbidden.',
    doc: 'The gateway denied the request: no route matched, the client identity is not allowed on the route, a pin did not match, or the route needs a client certificate and the connection has none (possible only on a listener that also has anonymous routes; elsewhere a missing certificate is ERR_GATEWAY_CERTIFICATE_REFUSED). The reason is in the gateway audit log, never in the response.',
  },
  ERR_GATEWAY_CERTIFICATE_REFUSED: {
    kind: 'refused',
    status: 403,
    message: 'Forbidden.',
    doc: "The TLS handshake completed but the gateway's own checks refused the client certificate afterwards: mutual's verifier, a listener pin, revocation, or no certificate where one is required. The gateway answers this once on an HTTP listener and closes the connection; the reason is in the gateway audit log (type handshake), never in the response. `mutual doctor` explains most refusals.",
  },
  ERR_GATEWAY_BAD_REQUEST: {
    kind: 'usage',
    status: 400,
    message: 'Bad request.',
    doc: 'The request target or framing is ambiguous: an encoded slash, backslash or control character in the path, a `..;` segment, a fragment, a non-origin-form target, or Content-Length together with Transfer-Encoding. Send a plain, normalized path.',
  },
  ERR_GATEWAY_RATE_LIMITED: {
    kind: 'refused',
    status: 429,
    message: 'Too many requests.',
    doc: 'The client identity or source address used up its token bucket (`rateLimits` in gateway.yaml). Retry after the number of seconds in Retry-After.',
  },
  ERR_GATEWAY_RATE_LIMIT_UNAVAILABLE: {
    kind: 'unavailable',
    status: 503,
    message: 'The service is unavailable.',
    doc: 'The shared rate-limit store (Redis, `rateLimits.store.redis`) did not answer within its timeout and the gateway is configured with `failClosed: true`, so it refuses rather than admitting requests it cannot count. Check Redis; with `failClosed: false` (the default) the gateway falls back to its own memory buckets instead.',
  },
  ERR_GATEWAY_UPSTREAM_UNAVAILABLE: {
    kind: 'unavailable',
    status: 502,
    message: 'The upstream is unavailable.',
    doc: 'The gateway could not connect to the upstream or the upstream closed the connection before answering. Check that the upstream listens at the configured URL.',
  },
  ERR_GATEWAY_UPSTREAM_TIMEOUT: {
    kind: 'unavailable',
    status: 504,
    message: 'The upstream did not answer in time.',
    doc: "No response headers arrived within the upstream's `connectTimeout` or `responseTimeout`.",
  },
  ERR_GATEWAY_MATERIAL_INVALID: {
    kind: 'config',
    status: 500,
    message: 'A certificate, key, trust bundle or CRL of the gateway is invalid.',
    doc: 'A file named in gateway.yaml is missing, does not parse, holds no certificate, or the key does not match the certificate. details.file and details.reason say which. On reload the old material is kept.',
  },
  ERR_GATEWAY_RELOAD_REFUSED: {
    kind: 'config',
    status: 500,
    message: 'The new gateway configuration cannot be applied without a restart.',
    doc: 'Listeners (names, addresses, ports) and the admin listener are fixed while the gateway runs. Restart the gateway to change them; the running configuration was kept.',
  },
  ERR_GATEWAY_LISTEN_FAILED: {
    kind: 'unavailable',
    status: 500,
    message: 'The gateway could not listen on a configured address.',
    doc: 'Another process uses the port, or the address is not local. details.listener names the listener.',
  },
  ERR_TUNNEL_MATERIAL_INVALID: {
    kind: 'config',
    status: 500,
    message: 'The certificate, key or trust bundle of the tunnel is invalid.',
    doc: 'A file given to `mutual tunnel` (--cert, --key, --ca) is missing or does not parse, the trust bundle holds no certificate, or the key does not match the certificate. On reload the old material is kept.',
  },
  ERR_TUNNEL_LISTEN_FAILED: {
    kind: 'unavailable',
    status: 500,
    message: 'The tunnel could not listen on its local address.',
    doc: 'Another process uses the port given with --listen, or the address is not local.',
  },
} as const satisfies Record<string, ErrorSpec>;
