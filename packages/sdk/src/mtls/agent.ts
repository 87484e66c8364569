import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { Agent, request as httpsRequest, type AgentOptions, type RequestOptions } from 'node:https';
import { checkServerIdentity, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import type { Authorizer } from '../authorize/index.js';
import type { Credentials } from '../credentials/index.js';
import { MutualError } from '../errors/index.js';
import { encodePem } from '../pem/index.js';
import { createVerifier, type Verifier } from '../verify/index.js';
import { anchorsOf, decisionOf, judgeChain, type MtlsDecision } from './peer.js';
import { mtlsContextOptions } from './tls-defaults.js';

export interface MtlsAgentOptions {
  /**
   * Which server to accept, after OpenSSL and mutual's verifier accepted its chain: e.g.
   * `authorizeID('spiffe://td/api')` or `authorizeDnsName('api.internal')`. Without it the
   * server certificate must carry the host name of the URL (as with plain https).
   */
  readonly authorize?: Authorizer;
  /** PEM of the anchors server chains must lead to. Default: the CA root the credentials trust. */
  readonly ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  readonly onDecision?: (decision: MtlsDecision) => void;
  /** node:https agent settings (keepAlive defaults to true). */
  readonly agent?: Omit<AgentOptions, 'cert' | 'key' | 'ca' | 'rejectUnauthorized' | 'maxCachedSessions'>;
}

class MtlsAgent extends Agent {
  readonly #credentials: Credentials;
  readonly #verifier: Verifier;
  readonly #trustPem: string;
  readonly #options: MtlsAgentOptions;

  constructor(credentials: Credentials, options: MtlsAgentOptions) {
    // No TLS session cache: every new connection is a full handshake, verified and authorized.
    super({ keepAlive: true, ...(options.agent ?? {}), maxCachedSessions: 0 });
    this.#credentials = credentials;
    this.#options = options;
    const anchors = anchorsOf(options.ca ?? credentials.rootPem());
    this.#trustPem = anchors.map((d) => encodePem(d, 'CERTIFICATE').trim()).join('\n') + '\n';
    this.#verifier = createVerifier({ anchors });
  }

  /** Each new connection presents the certificate current at that moment. */
  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const cur = this.#credentials.current();
    const tls = mtlsContextOptions(cur.chainPem, cur.keyPem, this.#trustPem);
    const remote = `${options.host ?? options.hostname ?? ''}:${String(options.port ?? 443)}`;
    return super.createConnection(
      {
        ...options,
        ...tls,
        rejectUnauthorized: true,
        // Runs inside the handshake after OpenSSL accepted the chain and before any request byte
        // is sent: mutual's verifier, then the authorizer (or the host name).
        checkServerIdentity: (host: string, cert: PeerCertificate) => {
          const at = this.#credentials.clock.now();
          const authorize =
            this.#options.authorize ??
            ((): ReturnType<Authorizer> => {
              const bad = checkServerIdentity(host, cert);
              return bad ? { ok: false, reason: bad.message } : { ok: true };
            });
          const j = judgeChain(this.#verifier, authorize, cert as DetailedPeerCertificate, 'server', at);
          this.#options.onDecision?.(decisionOf('client', remote, at, j));
          if (j.ok) return undefined;
          return new MutualError('ERR_MTLS_PEER_REFUSED', {
            message: `The server was refused (${j.reason}).`,
            details: { reason: j.reason, identity: j.identity?.value ?? null },
          });
        },
      },
      callback,
    );
  }
}

/**
 * An https.Agent that presents the credentials' current certificate on every new connection (after
 * a rotation new connections use the new one; keep-alive connections keep working) and accepts a
 * server only when OpenSSL and mutual's verifier accept its chain and `authorize` its identity.
 */
export function mtlsAgent(credentials: Credentials, options: MtlsAgentOptions = {}): Agent {
  return new MtlsAgent(credentials, options);
}

export interface MtlsFetchOptions extends MtlsAgentOptions {
  readonly credentials: Credentials;
  /** An agent from `mtlsAgent` to share (default: one per credentials and authorizer). */
  readonly dispatcher?: Agent;
}

export interface MtlsFetchInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
  readonly signal?: AbortSignal;
}

const agents = new WeakMap<Credentials, WeakMap<object, Agent>>();
const NO_AUTHORIZER = {};

function sharedAgent(o: MtlsFetchOptions): Agent {
  if (o.dispatcher) return o.dispatcher;
  let byAuthorizer = agents.get(o.credentials);
  if (!byAuthorizer) agents.set(o.credentials, (byAuthorizer = new WeakMap()));
  const key = o.authorize ?? NO_AUTHORIZER;
  let agent = byAuthorizer.get(key);
  if (!agent) byAuthorizer.set(key, (agent = mtlsAgent(o.credentials, o)));
  return agent;
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * fetch() over mutual TLS with self-renewing credentials: resolves with a WHATWG Response;
 * rejects with ERR_MTLS_PEER_REFUSED when the server is refused (before any request byte is sent).
 */
export function mtlsFetch(url: string | URL, init: MtlsFetchInit, options: MtlsFetchOptions): Promise<Response> {
  const target = new URL(url);
  if (target.protocol !== 'https:') {
    return Promise.reject(new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'mtlsFetch needs an https URL.' }));
  }
  const agent = sharedAgent(options);
  const body = init.body === undefined ? undefined : Buffer.from(init.body);
  return new Promise<Response>((resolve, reject) => {
    const req = httpsRequest(
      target,
      {
        method: init.method ?? (body === undefined ? 'GET' : 'POST'),
        agent,
        headers: {
          ...(init.headers ?? {}),
          ...(body === undefined ? {} : { 'content-length': String(body.length) }),
        },
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      },
      (res) => {
        const headers = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
        }
        const status = res.statusCode ?? 0;
        const stream = NULL_BODY.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        if (stream === null) res.resume();
        resolve(new Response(stream, { status, statusText: res.statusMessage ?? '', headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
