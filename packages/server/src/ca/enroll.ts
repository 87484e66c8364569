import { MutualError } from '@mutual/sdk';
import type { IssuanceService, IssuedCertificate } from './issue.js';
import type { CompiledProfilePolicy, LeafProfile, RequestedNames } from './policy.js';
import { inlinePkiWork } from './pki-work.js';
import type { Clock, PkiWork } from './ports.js';
import { sameNames, type TokenService } from './tokens.js';

export interface EnrollmentDeps {
  readonly tokens: TokenService;
  readonly issuance: IssuanceService;
  readonly policies: Readonly<Record<LeafProfile, CompiledProfilePolicy>>;
  readonly clock: Clock;
  readonly maxCsrBytes: number;
  /** Where CSRs are parsed and checked; default in this thread. */
  readonly pki?: PkiWork;
}

export interface EnrollRequest {
  readonly token: string;
  readonly csr: string;
  readonly lifetimeMs?: number;
  /** Where the request came from (client address), for the audit record. */
  readonly origin?: string;
}

export interface EnrollmentService {
  /** Token + CSR → certificate. Exactly one use of a token succeeds; refusals throw ERR_TOKEN_*, ERR_CSR_*, ERR_POLICY_*. */
  enroll(request: EnrollRequest): Promise<IssuedCertificate & { jti: string }>;
}

const toNames = (n: RequestedNames): RequestedNames => ({
  dns: [...n.dns],
  ip: [...n.ip],
  uri: [...n.uri],
  email: [...n.email],
});

/**
 * Enrollment with a one-time token: the token decides profile and names, the CSR contributes its
 * key (after proof of possession) and must ask for exactly the token's names (or none, and then
 * gets them). The jti is consumed in the same transaction as the certificate's intent.
 */
export function createEnrollmentService(deps: EnrollmentDeps): EnrollmentService {
  async function enroll(request: EnrollRequest): Promise<IssuedCertificate & { jti: string }> {
    const claims = await deps.tokens.verify(request.token);
    const csr = await (deps.pki ?? inlinePkiWork).parseCsr(request.csr, { maxBytes: deps.maxCsrBytes });
    const policy = deps.policies[claims.profile];
    const granted = policy.checkNames(claims.names);
    const asked = toNames(csr.requestedNames);
    const askedAny = asked.dns.length + asked.ip.length + asked.uri.length + asked.email.length > 0;
    if (askedAny) {
      const normalized = policy.checkNames(asked);
      if (!sameNames(normalized, granted)) {
        throw new MutualError('ERR_TOKEN_NAMES_MISMATCH', { details: { token: granted, csr: normalized } });
      }
    }
    const issued = await deps.issuance.issue({
      profile: claims.profile,
      names: granted,
      publicKey: csr.publicKey,
      ...(request.lifetimeMs === undefined ? {} : { lifetimeMs: request.lifetimeMs }),
      requester: `token:${claims.jti}`,
      onReserve: async (tx, serial) => {
        const at = deps.clock.now();
        if (!(await tx.consumeToken(claims.jti, at, serial))) {
          throw new MutualError('ERR_TOKEN_REPLAYED', { details: { jti: claims.jti } });
        }
        await tx.appendAudit({
          at,
          actor: `token:${claims.jti}`,
          action: 'token.use',
          subject: claims.jti,
          details: {
            serial,
            profile: claims.profile,
            ...(request.origin === undefined ? {} : { origin: request.origin }),
          },
        });
      },
      audit: {
        actor: `token:${claims.jti}`,
        details: { via: 'sign', jti: claims.jti, ...(request.origin === undefined ? {} : { origin: request.origin }) },
      },
    });
    return { ...issued, jti: claims.jti };
  }
  return { enroll };
}
