import type { FastifyInstance } from 'fastify';
import { MutualError } from '@mutual/sdk';
import {
  auditQuery,
  tokensQuery,
  type AuditItem,
  type AuditResponse,
  type CertificateDetail,
  type TokensResponse,
} from '@mutual/sdk/contract';
import { z } from 'zod';
import type {
  AuditChainVerdict,
  AuditListOptions,
  AuditRecord,
  ListedCertificate,
  MintedTokenRecord,
} from '../store/index.js';
import type { CaHttpDeps } from './app.js';
import { identifyAdmin } from './admin-auth.js';
import { describeLeaf } from './certificate-detail.js';
import { invalidRequest } from './errors.js';

/** What the admin read routes need from the store, wired by the composition root. */
export interface AdminReads {
  readonly audit: (options: AuditListOptions) => Promise<AuditRecord[]>;
  readonly verifyAudit: () => Promise<AuditChainVerdict>;
  /** One certificate with its state as of now. */
  readonly certificate: (serial: string) => Promise<ListedCertificate | undefined>;
  readonly unusedTokens: (now: Date, limit: number) => Promise<MintedTokenRecord[]>;
}

const AUDIT_PAGE = 100;
const HISTORY_LIMIT = 200;

function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw invalidRequest(result.error);
  return result.data;
}

export function auditItem(record: AuditRecord): AuditItem {
  return {
    seq: Number(record.seq),
    at: record.at.toISOString(),
    actor: record.actor,
    action: record.action,
    subject: record.subject,
    details: { ...record.details },
    hash: record.hash,
  };
}

const chainVerdict = (v: AuditChainVerdict): AuditResponse['chain'] =>
  v.ok
    ? { ok: true, records: v.count, brokenAt: null, reason: null }
    : { ok: false, records: 0, brokenAt: Number(v.brokenAt), reason: v.reason };

const serialParam = z.string().regex(/^[0-9a-fA-F]{1,64}$/, 'hexadecimal serial');

/**
 * The admin read routes beyond the inventory: GET /v1/audit (records with the chain's verdict),
 * GET /v1/certificates/:serial (one certificate in detail) and GET /v1/tokens (unused tokens).
 * Admin = an admin client certificate or a dashboard session (admin-auth.ts).
 */
export function registerAdminRoutes(app: FastifyInstance, deps: CaHttpDeps, reads: AdminReads): void {
  const admin = (request: Parameters<typeof identifyAdmin>[0]) =>
    identifyAdmin(request, deps.clients, deps.dashboard?.sessions);

  app.get('/v1/audit', async (request): Promise<AuditResponse> => {
    await admin(request);
    const query = parseWith(auditQuery, request.query);
    // Newest first unless paging forward with `after`.
    const forward = query.after !== undefined && query.before === undefined;
    const [records, verdict] = await Promise.all([
      reads.audit({
        ...(query.after === undefined ? {} : { afterSeq: BigInt(query.after) }),
        ...(query.before === undefined ? {} : { beforeSeq: BigInt(query.before) }),
        ...(query.action === undefined ? {} : { action: query.action }),
        ...(query.subject === undefined ? {} : { subject: query.subject }),
        limit: query.limit ?? AUDIT_PAGE,
        order: forward ? 'asc' : 'desc',
      }),
      reads.verifyAudit(),
    ]);
    return { items: records.map(auditItem), chain: chainVerdict(verdict) };
  });

  app.get<{ Params: { serial: string } }>('/v1/certificates/:serial', async (request): Promise<CertificateDetail> => {
    await admin(request);
    const parsed = serialParam.safeParse(request.params.serial);
    if (!parsed.success) throw invalidRequest(parsed.error);
    const serial = parsed.data.toLowerCase().replace(/^0+(?=.)/, '');
    const record = await reads.certificate(serial);
    if (record === undefined) {
      throw new MutualError('ERR_HTTP_NOT_FOUND', { message: 'No certificate with this serial.', details: { serial } });
    }
    const history = await reads.audit({ subject: serial, order: 'asc', limit: HISTORY_LIMIT });
    const leaf = record.pem === null ? undefined : describeLeaf(record.pem);
    return {
      summary: {
        serial: record.serial,
        state: record.state,
        profile: record.profile,
        identity: record.identity,
        subject: record.subject,
        sans: {
          dns: [...record.sans.dns],
          ip: [...record.sans.ip],
          uri: [...record.sans.uri],
          email: [...record.sans.email],
        },
        notBefore: record.notBefore.toISOString(),
        notAfter: record.notAfter.toISOString(),
        fingerprintSha256: record.fingerprintSha256,
        requester: record.requester,
        revokedAt: record.revokedAt === null ? null : record.revokedAt.toISOString(),
        revocationReason: record.revocationReason,
      },
      chain:
        record.pem === null
          ? []
          : record.issuerFingerprint === deps.roots.fingerprint
            ? [record.pem.trim(), deps.roots.rootPem]
            : [
                record.pem.trim(),
                (deps.roots.intermediates ?? []).find((i) => i.fingerprint === record.issuerFingerprint)?.pem ??
                  deps.roots.intermediatePem,
                deps.roots.rootPem,
              ],
      fingerprints: { sha256: record.fingerprintSha256, spkiSha256: record.spkiSha256 },
      issuer: leaf?.issuer ?? '',
      keyType: record.keyType,
      extensions: leaf?.extensions ?? [],
      audit: history.map(auditItem),
      // Where the certificate was seen in use comes with the sightings of gateways and agents.
      places: [],
    };
  });

  app.get('/v1/tokens', async (request): Promise<TokensResponse> => {
    await admin(request);
    const query = parseWith(tokensQuery, request.query);
    const tokens = await reads.unusedTokens(deps.clock.now(), query.limit ?? 100);
    return {
      items: tokens.map((t) => ({
        jti: t.jti,
        profile: t.profile,
        names: { dns: [...t.names.dns], ip: [...t.names.ip], uri: [...t.names.uri], email: [...t.names.email] },
        mintedAt: t.mintedAt.toISOString(),
        expiresAt: t.expiresAt.toISOString(),
        mintedBy: t.mintedBy,
      })),
    };
  });
}
