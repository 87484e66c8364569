/**
 * tunnel: the client side of mutual TLS for plain-TCP programs — a local listener whose every
 * connection is carried to a target over mTLS, after OpenSSL and mutual's verifier both accepted
 * the server and its identity. Never imports ca or store.
 */
export { startTunnelServer, type Tunnel, type TunnelConnectionEvent, type TunnelOptions } from './tunnel.js';
