import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Authorizer } from '../authorize/index.js';
import type { Credentials } from '../credentials/index.js';
import { MutualError } from '../errors/index.js';
import { encodePem } from '../pem/index.js';
import { createVerifier } from '../verify/index.js';
import { anchorsOf, decisionOf, judgeSocket, type Judgement, type MtlsDecision, type MtlsPeer } from './peer.js';
import { mtlsContextOptions } from './tls-defaults.js';

/** Options the helper sets itself (certificate, trust, verification and TLS policy). */
type Managed =
  | 'cert'
  | 'key'
  | 'ca'
  | 'requestCert'
  | 'rejectUnauthorized'
  | 'minVersion'
  | 'maxVersion'
  | 'ciphers'
  | 'secureOptions'
  | 'secureContext'
  | 'SNICallback'
  | 'sessionIdContext'
  | 'ticketKeys';

interface CommonOptions {
  /** Who may connect (an authorizer from `authorize*`, `allOf`, `anyOf`). Required: say `authorizeAny()` to admit every verified peer. */
  readonly authorize: Authorizer;
  /** PEM of the anchors client chains must lead to. Default: the CA root the credentials trust. */
  readonly trust?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** Every decision (allow or deny, and why), for audit. */
  readonly onDecision?: (decision: MtlsDecision) => void;
}

export interface MtlsHttpServerOptions extends CommonOptions {
  /** Called for requests of admitted peers only; others get 403. */
  readonly handler: (req: IncomingMessage, res: ServerResponse, peer: MtlsPeer) => void;
  /** Further node:https server options (timeouts, …); TLS policy and certificates are the helper's. */
  readonly server?: Omit<ServerOptions, Managed>;
}

export interface MtlsTlsServerOptions extends CommonOptions {
  /** Called for connections of admitted peers only; others are closed. */
  readonly onConnection: (socket: TLSSocket, peer: MtlsPeer) => void;
  readonly server?: Omit<TlsOptions, Managed>;
}

const peers = new WeakMap<object, Judgement>();

/** The admitted peer of a connection (or of a request's connection) of an mTLS server. */
export function mtlsPeerOf(from: TLSSocket | IncomingMessage): MtlsPeer | undefined {
  const j = peers.get('socket' in from ? from.socket : from);
  return j?.ok === true ? j.peer : undefined;
}

const FORBIDDEN = JSON.stringify({ error: { code: 'ERR_MTLS_PEER_REFUSED' } });

/**
 * An HTTPS (with `handler`) or TLS (with `onConnection`) server that requires client certificates,
 * presents the credentials' current certificate and swaps it on every rotation with
 * `setSecureContext()` (open connections keep going; no session survives a swap). Each peer is
 * judged by OpenSSL and mutual's verifier, its identity read from the verified leaf, and the
 * `authorize` decision taken once per connection: a denied TLS peer is closed, a denied HTTP
 * peer gets 403 on every request. Call after `await credentials.ready()`; `listen()` it yourself.
 */
export function createMtlsServer(credentials: Credentials, options: MtlsHttpServerOptions): HttpsServer;
export function createMtlsServer(credentials: Credentials, options: MtlsTlsServerOptions): TlsServer;
export function createMtlsServer(
  credentials: Credentials,
  options: MtlsHttpServerOptions | MtlsTlsServerOptions,
): HttpsServer | TlsServer {
  if (typeof (options as { authorize?: unknown }).authorize !== 'function') {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'createMtlsServer needs an authorize function (authorizeAny() admits every verified peer).',
    });
  }
  const anchors = anchorsOf(options.trust ?? credentials.rootPem());
  const trustPem = anchors.map((d) => encodePem(d, 'CERTIFICATE').trim()).join('\n') + '\n';
  const verifier = createVerifier({ anchors });
  const context = (): ReturnType<typeof mtlsContextOptions> => {
    const cur = credentials.current();
    return mtlsContextOptions(cur.chainPem, cur.keyPem, trustPem);
  };
  const tlsPolicy = { ...context(), requestCert: true, rejectUnauthorized: true };

  const judge = (socket: TLSSocket): Judgement => {
    const at = credentials.clock.now();
    const j = judgeSocket(verifier, options.authorize, socket, at);
    peers.set(socket, j);
    options.onDecision?.(decisionOf('server', `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`, at, j));
    return j;
  };
  const refusedHandshake = (err: NodeJS.ErrnoException, socket: TLSSocket): void => {
    options.onDecision?.({
      at: credentials.clock.now(),
      side: 'server',
      remote: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
      decision: 'deny',
      reason: `TLS_HANDSHAKE_FAILED: ${err.code ?? err.message}`,
      identity: null,
      serial: null,
      fingerprint: null,
    });
  };

  let server: HttpsServer | TlsServer;
  if ('handler' in options) {
    const handler = options.handler;
    server = createHttpsServer({ ...(options.server ?? {}), ...tlsPolicy }, (req, res) => {
      const j = peers.get(req.socket);
      if (j?.ok !== true) {
        res.writeHead(403, {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(FORBIDDEN)),
          connection: 'close',
        });
        res.end(FORBIDDEN);
        return;
      }
      handler(req, res, j.peer);
    });
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      judge(socket);
    });
  } else {
    const onConnection = options.onConnection;
    server = createTlsServer({ ...(options.server ?? {}), ...tlsPolicy }, (socket) => {
      const j = judge(socket);
      if (!j.ok) {
        socket.destroy();
        return;
      }
      onConnection(socket, j.peer);
    });
  }
  server.on('tlsClientError', refusedHandshake);

  const s = server;
  const onRotated = (): void => {
    s.setSecureContext(context());
  };
  credentials.on('rotated', onRotated);
  server.once('close', () => {
    credentials.off('rotated', onRotated);
  });
  return server;
}
