import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { MutualError } from '@mutual/sdk';
import type { CompiledProfilePolicy, LeafProfile, RequestedNames } from './policy.js';
import type { CaStore, Clock, RandomBytes } from './ports.js';

/** The only algorithm a token may use: ECDSA P-256 with SHA-256. `none`, HMAC and the rest are refused. */
export const TOKEN_ALGORITHM = 'ES256';
/** The JOSE `typ` of an enrollment token, so that no other JWT signed by the key passes for one. */
export const TOKEN_TYPE = 'mutual-enroll+jwt';
/** nbf is backdated by this much so that a little clock skew between CA instances does not refuse fresh tokens. */
const NBF_BACKDATE_S = 30;

export interface TokenClaims {
  readonly jti: string;
  readonly profile: LeafProfile;
  readonly names: RequestedNames;
  readonly expiresAt: Date;
}

export interface MintedToken extends TokenClaims {
  /** The compact JWT: a bearer secret — never logged, never audited. */
  readonly token: string;
}

export interface TokenServiceDeps {
  /** P-256 private key that signs tokens (kept in the CA directory, encrypted like the CA keys). */
  readonly signingKey: KeyObject;
  /** Identifies this CA as issuer (`iss`). */
  readonly issuer: string;
  /** The CA's sign URL: a token is only good there (`aud`). */
  readonly audience: string;
  readonly policies: Readonly<Record<LeafProfile, CompiledProfilePolicy>>;
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  readonly clock: Clock;
  readonly random: RandomBytes;
  readonly store: CaStore;
}

export interface TokenService {
  /** Mints a one-time token bound to names (checked against the policy now), profile, audience and expiry; audited. */
  mint(input: { names: RequestedNames; profile: LeafProfile; ttlMs?: number; actor: string }): Promise<MintedToken>;
  /** Verifies signature, algorithm, type, issuer, audience and times. Does not consume it: issuance does. */
  verify(token: string): Promise<TokenClaims>;
  /** The `kid` of the signing key (SHA-256 of its SPKI, 16 hex digits). */
  readonly keyId: string;
}

const namesClaim = z.strictObject({
  dns: z.array(z.string().max(253)).max(100),
  ip: z.array(z.string().max(45)).max(100),
  uri: z.array(z.string().max(2048)).max(1),
  email: z.array(z.string().max(254)).max(100),
});
const claimsSchema = z.object({
  jti: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  iat: z.number().int(),
  nbf: z.number().int(),
  exp: z.number().int(),
  mutual: z.strictObject({ profile: z.enum(['server', 'client', 'both']), names: namesClaim }),
});

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A base64url JSON object (a JWS header or JWT payload), or ERR_TOKEN_MALFORMED. */
function decodeJsonPart(part: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new MutualError('ERR_TOKEN_MALFORMED', { cause });
  }
  if (!isObject(value)) throw new MutualError('ERR_TOKEN_MALFORMED');
  return value;
}

const invalid = (reason: string): MutualError => new MutualError('ERR_TOKEN_INVALID', { details: { reason } });

/**
 * Compact JWS verification for enrollment tokens only, with node:crypto: the header must say
 * exactly ES256 and our `typ` and carry no `crit` or `b64`; the signature is IEEE P1363 (64 bytes)
 * over the first two parts. Anything else is refused before the payload is read. (jose still mints
 * the tokens; verifying here costs half of jose's WebCrypto path on the server's main thread.)
 */
function verifyJws(token: string, key: KeyObject): JsonObject {
  const [headerPart = '', payloadPart = '', signaturePart = ''] = token.split('.');
  const header = decodeJsonPart(headerPart);
  if (header['alg'] !== TOKEN_ALGORITHM) throw invalid('algorithm');
  if ('crit' in header || 'b64' in header) throw invalid('unsupported header parameter');
  if (header['typ'] !== TOKEN_TYPE) throw invalid('typ');
  const signature = Buffer.from(signaturePart, 'base64url');
  if (signature.length !== 64) throw invalid('signature');
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, 'ascii');
  if (!verifySignature('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature)) throw invalid('signature');
  return decodeJsonPart(payloadPart);
}

/**
 * The registered claims of a verified payload, checked like RFC 7519 asks with no tolerance:
 * issuer, audience (a string or a list that holds ours), exp/nbf/iat/jti present, exp in the
 * future, nbf not.
 */
function checkRegisteredClaims(payload: JsonObject, expect: { issuer: string; audience: string; now: Date }): void {
  for (const claim of ['jti', 'iat', 'nbf', 'exp']) {
    if (!(claim in payload)) throw new MutualError('ERR_TOKEN_MALFORMED', { details: { claim } });
  }
  for (const claim of ['iat', 'nbf', 'exp']) {
    const v = payload[claim];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new MutualError('ERR_TOKEN_MALFORMED', { details: { claim } });
    }
  }
  if (payload['iss'] !== expect.issuer) throw invalid('issuer');
  const aud = payload['aud'];
  if (!(aud === expect.audience || (Array.isArray(aud) && aud.includes(expect.audience)))) {
    throw new MutualError('ERR_TOKEN_AUDIENCE');
  }
  const now = Math.floor(expect.now.getTime() / 1000);
  if ((payload['exp'] as number) <= now) throw new MutualError('ERR_TOKEN_EXPIRED');
  if ((payload['nbf'] as number) > now) throw new MutualError('ERR_TOKEN_NOT_YET_VALID');
}

/** Normalized names as sets, for comparing what a token grants with what a CSR asks. */
export function sameNames(a: RequestedNames, b: RequestedNames): boolean {
  const eq = (x: readonly string[], y: readonly string[]): boolean => {
    const sx = new Set(x);
    const sy = new Set(y);
    return sx.size === sy.size && [...sx].every((v) => sy.has(v));
  };
  return eq(a.dns, b.dns) && eq(a.ip, b.ip) && eq(a.uri, b.uri) && eq(a.email, b.email);
}

/**
 * One-time enrollment tokens: ES256 JWTs minted by the CA (or an admin holding its token key),
 * bound to names, profile, audience (the sign URL) and a short expiry. Single use is enforced by
 * issuance, which consumes the jti in the same transaction as the certificate's intent.
 */
export function createTokenService(deps: TokenServiceDeps): TokenService {
  const publicKey = createPublicKey(deps.signingKey);
  const details = publicKey.asymmetricKeyDetails;
  if (publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new MutualError('ERR_KEY_NOT_ALLOWED', { message: 'The token-signing key must be a P-256 key.' });
  }
  const keyId = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);

  async function mint(input: {
    names: RequestedNames;
    profile: LeafProfile;
    ttlMs?: number;
    actor: string;
  }): Promise<MintedToken> {
    const ttlMs = input.ttlMs ?? deps.defaultTtlMs;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1000 || ttlMs > deps.maxTtlMs) {
      throw new MutualError('ERR_TOKEN_TTL_EXCEEDED', { details: { ttlMs, maxTtlMs: deps.maxTtlMs } });
    }
    const policy = deps.policies[input.profile];
    const names = policy.checkNames(input.names);
    const now = deps.clock.now();
    const iat = Math.floor(now.getTime() / 1000);
    const exp = Math.floor((now.getTime() + ttlMs) / 1000);
    const jti = Buffer.from(deps.random(16)).toString('base64url');
    const token = await new SignJWT({ mutual: { profile: input.profile, names } })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: TOKEN_TYPE, kid: keyId })
      .setIssuer(deps.issuer)
      .setAudience(deps.audience)
      .setSubject(names.uri[0] ?? names.dns[0] ?? names.ip[0] ?? names.email[0] ?? '')
      .setJti(jti)
      .setIssuedAt(iat)
      .setNotBefore(iat - NBF_BACKDATE_S)
      .setExpirationTime(exp)
      .sign(deps.signingKey);
    const expiresAt = new Date(exp * 1000);
    await deps.store.transaction(async (tx) => {
      await tx.recordMintedToken({
        jti,
        profile: input.profile,
        names,
        mintedAt: now,
        expiresAt,
        mintedBy: input.actor,
      });
      await tx.appendAudit({
        at: now,
        actor: input.actor,
        action: 'token.create',
        subject: jti,
        details: { profile: input.profile, names, expiresAt: expiresAt.toISOString(), audience: deps.audience },
      });
    });
    return { token, jti, profile: input.profile, names, expiresAt };
  }

  function verify(token: string): Promise<TokenClaims> {
    return Promise.resolve().then(() => verifySync(token));
  }

  function verifySync(token: string): TokenClaims {
    if (
      typeof token !== 'string' ||
      token.length > 8192 ||
      !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)
    ) {
      throw new MutualError('ERR_TOKEN_MALFORMED');
    }
    const payload = verifyJws(token, publicKey);
    checkRegisteredClaims(payload, { issuer: deps.issuer, audience: deps.audience, now: deps.clock.now() });
    const parsed = claimsSchema.safeParse(payload);
    if (!parsed.success) throw new MutualError('ERR_TOKEN_MALFORMED');
    const claims = parsed.data;
    if ((claims.exp - claims.nbf) * 1000 > deps.maxTtlMs + NBF_BACKDATE_S * 1000) {
      // Signed by our key but longer-lived than any token this CA mints: refuse rather than trust it.
      throw new MutualError('ERR_TOKEN_INVALID', { details: { reason: 'lifetime exceeds server.tokens.maxTtl' } });
    }
    return {
      jti: claims.jti,
      profile: claims.mutual.profile,
      names: claims.mutual.names,
      expiresAt: new Date(claims.exp * 1000),
    };
  }

  return { mint, verify, keyId };
}
