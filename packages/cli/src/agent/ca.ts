import { CaClient, MutualError, readFileCapped } from '@mutual/sdk';
import type { CertificateResponse, RenewRequest, ReportRequest, SignRequest } from '@mutual/sdk/contract';

/** The pair the agent presents over mTLS (renewal, reports): certificate chain and key, PEM. */
export interface PairIdentity {
  readonly chainPem: string;
  readonly keyPem: string;
}

/** What the agent needs from the CA. The real one is a CaClient; tests hand in a fake. */
export interface AgentCa {
  sign(request: SignRequest): Promise<CertificateResponse>;
  renew(request: RenewRequest, identity: PairIdentity): Promise<CertificateResponse>;
  report(body: ReportRequest, identity: PairIdentity): Promise<void>;
  /** POST /v1/revoke as the holder: `identity` is the certificate being revoked, with its key. */
  revoke(
    body: { serial: string; reason: 'superseded' | 'cessationOfOperation' },
    identity: PairIdentity,
  ): Promise<void>;
  /** GET /v1/roots: the roots the CA publishes and, during a root rotation, its cross-certificates. */
  roots?(): Promise<{ readonly roots: readonly string[]; readonly crossCertificates?: readonly string[] | undefined }>;
}

/**
 * The CA over HTTPS: sign with a token, renew and report over mTLS with the current pair. `rootPem`
 * may be a function: the roots trusted at each call (an agent that follows a root rotation).
 */
export function httpAgentCa(
  url: string,
  rootPem: string | Uint8Array | (() => string | Uint8Array),
  timeoutMs = 15_000,
): AgentCa {
  const ca = (): string | Uint8Array => (typeof rootPem === 'function' ? rootPem() : rootPem);
  const anonymous = (): CaClient => new CaClient({ url, ca: ca(), timeoutMs });
  const as = (identity: PairIdentity): CaClient =>
    new CaClient({ url, ca: ca(), cert: identity.chainPem, key: identity.keyPem, timeoutMs });
  return {
    roots: () => anonymous().roots(),
    sign: (request) => anonymous().sign(request),
    renew: (request, identity) => as(identity).renew(request),
    report: async (body, identity) => {
      await as(identity).report(body);
    },
    revoke: async (body, identity) => {
      await as(identity).revoke(body);
    },
  };
}

/** The CA URL and root the agent trusts: from its config, else from `mutual ca bootstrap`'s saved context. */
export async function resolveCaEndpoint(
  given: { url?: string | undefined; rootFile?: string | undefined },
  savedContextFile: string,
): Promise<{ url: string; rootPem: Buffer }> {
  let url = given.url;
  let rootFile = given.rootFile;
  if (url === undefined || rootFile === undefined) {
    let saved: { caUrl?: unknown; root?: unknown } = {};
    try {
      saved = JSON.parse((await readFileCapped(savedContextFile, 64 * 1024)).toString('utf8')) as typeof saved;
    } catch {
      // no saved context: reported below
    }
    url ??= typeof saved.caUrl === 'string' ? saved.caUrl : undefined;
    rootFile ??= typeof saved.root === 'string' ? saved.root : undefined;
  }
  if (url === undefined || rootFile === undefined) throw new MutualError('ERR_CLI_NO_CONTEXT');
  return { url, rootPem: await readFileCapped(rootFile) };
}
