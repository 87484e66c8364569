/**
 * Test PKI for the verifier's tests: a tiny DER writer and a certificate/CRL builder that can
 * produce both well-formed and deliberately hostile encodings, signed with node:crypto.
 * Used by tests only; it never touches files, the clock or the network.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export type Bytes = Uint8Array;

function len(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | out.length, ...out];
}

export function tlv(tag: number, ...parts: Bytes[]): Bytes {
  const body = Buffer.concat(parts);
  return Uint8Array.from([tag, ...len(body.length), ...body]);
}

export const seq = (...p: Bytes[]): Bytes => tlv(0x30, ...p);
export const set = (...p: Bytes[]): Bytes => tlv(0x31, ...p);
export const octet = (b: Bytes): Bytes => tlv(0x04, b);
export const nul = (): Bytes => Uint8Array.of(0x05, 0x00);
export const bool = (v: boolean): Bytes => Uint8Array.of(0x01, 0x01, v ? 0xff : 0x00);
export const ia5 = (s: string): Bytes => tlv(0x16, Buffer.from(s, 'latin1'));
export const utf8 = (s: string): Bytes => tlv(0x0c, Buffer.from(s, 'utf8'));
export const bits = (b: Bytes, unused = 0): Bytes => tlv(0x03, Uint8Array.of(unused), b);
export const ctx = (n: number, constructed: boolean, ...p: Bytes[]): Bytes =>
  tlv((constructed ? 0xa0 : 0x80) | n, ...p);

export function int(v: number | bigint | Bytes): Bytes {
  if (v instanceof Uint8Array) return tlv(0x02, v);
  let n = BigInt(v);
  const out: number[] = [];
  if (n === 0n) return Uint8Array.of(0x02, 0x01, 0x00);
  while (n > 0n) {
    out.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  if ((out[0] as number) & 0x80) out.unshift(0);
  return tlv(0x02, Uint8Array.from(out));
}

export function oid(s: string): Bytes {
  const arcs = s.split('.').map((x) => BigInt(x));
  const out: number[] = [];
  const push = (v: bigint): void => {
    const chunk: number[] = [Number(v & 0x7fn)];
    v >>= 7n;
    while (v > 0n) {
      chunk.unshift(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(...chunk);
  };
  push((arcs[0] as bigint) * 40n + (arcs[1] as bigint));
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Uint8Array.from(out));
}

function time(d: Date): Bytes {
  const iso = d.toISOString();
  const y = d.getUTCFullYear();
  const body = iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(String(y).slice(2) + body, 'latin1'));
  return tlv(0x18, Buffer.from(String(y).padStart(4, '0') + body, 'latin1'));
}

export function name(cn: string, extra: [string, string][] = []): Bytes {
  const rdns = [...extra, ['2.5.4.3', cn] as [string, string]].map(([o, v]) => set(seq(oid(o), utf8(v))));
  return seq(...rdns);
}

export type GN =
  { dns: string } | { ip: Bytes } | { uri: string } | { email: string } | { dn: Bytes } | { other: Bytes };

export function generalName(g: GN): Bytes {
  if ('dns' in g) return tlv(0x82, Buffer.from(g.dns, 'latin1'));
  if ('ip' in g) return tlv(0x87, g.ip);
  if ('uri' in g) return tlv(0x86, Buffer.from(g.uri, 'latin1'));
  if ('email' in g) return tlv(0x81, Buffer.from(g.email, 'latin1'));
  if ('dn' in g) return ctx(4, true, g.dn);
  return ctx(0, true, g.other);
}

export type KeyType = 'p256' | 'p384' | 'p192' | 'rsa1024' | 'rsa2048' | 'ed25519';

export interface TestKey {
  readonly type: KeyType;
  readonly privateKey: KeyObject;
  readonly spki: Bytes;
}

const keyCache = new Map<KeyType, TestKey>();

/** A key of the given type; `fresh` makes a new one, else one per type is shared (RSA is slow). */
export function makeKey(type: KeyType = 'p256', fresh = false): TestKey {
  const hit = keyCache.get(type);
  if (hit && !fresh) return hit;
  const pair =
    type === 'p256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'p384'
        ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
        : type === 'p192'
          ? generateKeyPairSync('ec', { namedCurve: 'prime192v1' })
          : type === 'ed25519'
            ? generateKeyPairSync('ed25519')
            : generateKeyPairSync('rsa', { modulusLength: type === 'rsa1024' ? 1024 : 2048 });
  const key: TestKey = {
    type,
    privateKey: pair.privateKey,
    spki: new Uint8Array(pair.publicKey.export({ type: 'spki', format: 'der' })),
  };
  if (!fresh) keyCache.set(type, key);
  return key;
}

export type SigAlgName = 'ecdsa-sha256' | 'ecdsa-sha384' | 'rsa-sha256' | 'rsa-sha1' | 'rsa-pss-sha256' | 'ed25519';

function defaultAlg(k: TestKey): SigAlgName {
  if (k.type === 'ed25519') return 'ed25519';
  if (k.type.startsWith('rsa')) return 'rsa-sha256';
  return k.type === 'p384' ? 'ecdsa-sha384' : 'ecdsa-sha256';
}

function algId(a: SigAlgName): Bytes {
  switch (a) {
    case 'ecdsa-sha256':
      return seq(oid('1.2.840.10045.4.3.2'));
    case 'ecdsa-sha384':
      return seq(oid('1.2.840.10045.4.3.3'));
    case 'rsa-sha256':
      return seq(oid('1.2.840.113549.1.1.11'), nul());
    case 'rsa-sha1':
      return seq(oid('1.2.840.113549.1.1.5'), nul());
    case 'ed25519':
      return seq(oid('1.3.101.112'));
    case 'rsa-pss-sha256': {
      const sha256 = seq(oid('2.16.840.1.101.3.4.2.1'), nul());
      return seq(
        oid('1.2.840.113549.1.1.10'),
        seq(ctx(0, true, sha256), ctx(1, true, seq(oid('1.2.840.113549.1.1.8'), sha256)), ctx(2, true, int(32))),
      );
    }
  }
}

function doSign(a: SigAlgName, key: TestKey, data: Bytes): Bytes {
  switch (a) {
    case 'ecdsa-sha256':
      return sign('sha256', data, { key: key.privateKey, dsaEncoding: 'der' });
    case 'ecdsa-sha384':
      return sign('sha384', data, { key: key.privateKey, dsaEncoding: 'der' });
    case 'rsa-sha256':
      return sign('sha256', data, key.privateKey);
    case 'rsa-sha1':
      return sign('sha1', data, key.privateKey);
    case 'rsa-pss-sha256':
      return sign('sha256', data, { key: key.privateKey, padding: 6, saltLength: 32 });
    case 'ed25519':
      return sign(null, data, key.privateKey);
  }
}

export function keyId(spki: Bytes): Bytes {
  return createHash('sha256').update(spki).digest().subarray(0, 20);
}

/** An SPKI pin as the verifier takes it: `sha256/<base64 of SHA-256(SPKI)>`. */
export function spkiPin(cert: { readonly spki: Bytes }): string {
  return `sha256/${createHash('sha256').update(cert.spki).digest('base64')}`;
}

export interface Ext {
  readonly oid: string;
  readonly critical?: boolean;
  readonly value: Bytes;
}

export interface CertSpec {
  readonly cn?: string;
  /** A whole Name DER (overrides cn). */
  readonly subject?: Bytes;
  readonly issuer?: TestCert;
  readonly key?: TestKey;
  readonly serial?: number | bigint | Bytes;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly ca?: boolean;
  readonly pathLen?: number;
  readonly bcCritical?: boolean;
  readonly noBasicConstraints?: boolean;
  readonly keyUsage?: readonly (keyof typeof KU_BITS)[];
  readonly eku?: readonly string[];
  readonly san?: readonly GN[];
  readonly sanCritical?: boolean;
  readonly permitted?: readonly GN[];
  readonly excluded?: readonly GN[];
  readonly extensions?: readonly Ext[];
  readonly noAki?: boolean;
  /** Whole Extension encodings appended as they are (hostile encodings). */
  readonly rawExtensions?: readonly Bytes[];
  /** Omit the version field and all extensions (an X.509 v1 certificate). */
  readonly v1?: boolean;
  readonly sigAlg?: SigAlgName;
  /** Rewrite the TBS before signing (hostile encodings). */
  readonly mutateTbs?: (tbs: Bytes) => Bytes;
}

export interface TestCert {
  readonly der: Bytes;
  readonly pem: string;
  readonly key: TestKey;
  readonly subject: Bytes;
  readonly spki: Bytes;
}

export const KU_BITS = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
} as const;

function kuBits(names: readonly (keyof typeof KU_BITS)[]): Bytes {
  let v = 0;
  for (const n of names) v |= 0x8000 >> KU_BITS[n];
  const b = v & 0xff ? [v >> 8, v & 0xff] : [v >> 8];
  const last = b[b.length - 1] as number;
  let unused = 0;
  while (unused < 7 && ((last >> unused) & 1) === 0) unused++;
  return bits(Uint8Array.from(b), unused);
}

export const T0 = new Date('2025-01-01T00:00:00Z');
export const T_END = new Date('2035-01-01T00:00:00Z');
/** The validation time the tests use. */
export const NOW = new Date('2026-06-01T12:00:00Z');

let serialCounter = 1000n;

export function toPem(der: Bytes, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** Builds and signs one certificate. Without an issuer it is self-signed. */
export function makeCert(spec: CertSpec): TestCert {
  const key = spec.key ?? makeKey('p256');
  const subject = spec.subject ?? name(spec.cn ?? 'test');
  const issuerName = spec.issuer?.subject ?? subject;
  const signer = spec.issuer?.key ?? key;
  const sigAlg = spec.sigAlg ?? defaultAlg(signer);
  const exts: Bytes[] = [];
  const ext = (o: string, critical: boolean, value: Bytes): void => {
    exts.push(seq(oid(o), ...(critical ? [bool(true)] : []), octet(value)));
  };
  if (!spec.noBasicConstraints && (spec.ca !== undefined || spec.pathLen !== undefined)) {
    const inner: Bytes[] = [];
    if (spec.ca) inner.push(bool(true));
    if (spec.pathLen !== undefined) inner.push(int(spec.pathLen));
    ext('2.5.29.19', spec.bcCritical ?? true, seq(...inner));
  }
  const ku = spec.keyUsage ?? (spec.ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature']);
  if (ku.length > 0) ext('2.5.29.15', true, kuBits(ku));
  if (spec.eku) ext('2.5.29.37', false, seq(...spec.eku.map(oid)));
  if (spec.san) ext('2.5.29.17', spec.sanCritical ?? false, seq(...spec.san.map(generalName)));
  if (spec.permitted || spec.excluded) {
    const subtrees = (l: readonly GN[]): Bytes[] => l.map((g) => seq(generalName(g)));
    ext(
      '2.5.29.30',
      true,
      seq(
        ...(spec.permitted ? [ctx(0, true, ...subtrees(spec.permitted))] : []),
        ...(spec.excluded ? [ctx(1, true, ...subtrees(spec.excluded))] : []),
      ),
    );
  }
  ext('2.5.29.14', false, octet(keyId(key.spki)));
  if (!spec.noAki && spec.issuer) ext('2.5.29.35', false, seq(ctx(0, false, keyId(spec.issuer.spki))));
  for (const e of spec.extensions ?? []) ext(e.oid, e.critical ?? false, e.value);
  exts.push(...(spec.rawExtensions ?? []));
  let tbs = seq(
    ...(spec.v1 ? [] : [ctx(0, true, int(2))]),
    int(spec.serial ?? serialCounter++),
    algId(sigAlg),
    issuerName,
    seq(time(spec.notBefore ?? T0), time(spec.notAfter ?? T_END)),
    subject,
    key.spki,
    ...(exts.length && !spec.v1 ? [ctx(3, true, seq(...exts))] : []),
  );
  if (spec.mutateTbs) tbs = spec.mutateTbs(tbs);
  const der = seq(tbs, algId(sigAlg), bits(doSign(sigAlg, signer, tbs)));
  return { der, pem: toPem(der), key, subject, spki: key.spki };
}

export interface CrlSpec {
  readonly issuer: TestCert;
  readonly revoked?: readonly (number | bigint | Bytes)[];
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date | null;
  readonly number?: number | null;
  readonly numberCritical?: boolean;
  readonly extensions?: readonly Ext[];
}

export function makeCrl(spec: CrlSpec): string {
  const exts: Bytes[] = [];
  if (spec.number !== null) {
    exts.push(seq(oid('2.5.29.20'), ...(spec.numberCritical ? [bool(true)] : []), octet(int(spec.number ?? 1))));
  }
  exts.push(seq(oid('2.5.29.35'), octet(seq(ctx(0, false, keyId(spec.issuer.spki))))));
  for (const e of spec.extensions ?? [])
    exts.push(seq(oid(e.oid), ...(e.critical ? [bool(true)] : []), octet(e.value)));
  const alg = defaultAlg(spec.issuer.key);
  const revoked = (spec.revoked ?? []).map((s) => seq(int(s), time(T0)));
  const tbs = seq(
    int(1),
    algId(alg),
    spec.issuer.subject,
    time(spec.thisUpdate ?? T0),
    ...(spec.nextUpdate === null ? [] : [time(spec.nextUpdate ?? T_END)]),
    ...(revoked.length ? [seq(...revoked)] : []),
    ctx(0, true, seq(...exts)),
  );
  const der = seq(tbs, algId(alg), bits(doSign(alg, spec.issuer.key, tbs)));
  return toPem(der, 'X509 CRL');
}

/** A root, an intermediate under it and a client leaf under that, for the common case. */
export function makeChain(leafSpec: Partial<CertSpec> = {}): { root: TestCert; inter: TestCert; leaf: TestCert } {
  const root = makeCert({ cn: 'Test Root', ca: true, key: makeKey('p256', true) });
  const inter = makeCert({ cn: 'Test Intermediate', ca: true, issuer: root, key: makeKey('p256', true) });
  const leaf = makeCert({
    cn: 'workload',
    issuer: inter,
    eku: [EKU.clientAuth],
    san: [{ uri: 'spiffe://example.org/ns/prod/sa/api' }],
    ...leafSpec,
  });
  return { root, inter, leaf };
}
