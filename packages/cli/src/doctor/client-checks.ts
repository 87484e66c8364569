/** Local checks of the client certificate: key pair, validity, EKU, issuer against the server's list, revocation. */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { pemBlocks } from './material.js';

export interface ClientFacts {
  readonly leaf: X509Certificate;
  readonly chain: X509Certificate[];
  readonly identity: string;
  readonly keyMatches: boolean;
  readonly expired: boolean;
  readonly notYetValid: boolean;
  /** undefined: no EKU extension (any use). */
  readonly clientAuth: boolean | undefined;
  /** EKU names (serverAuth, clientAuth, …) or dotted OIDs for unnamed ones. */
  readonly eku: string[];
  readonly crlUrls: string[];
  readonly ocspUrls: string[];
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};
const ANY_EKU = '2.5.29.37.0';

/** `O=X\nCN=Y` (Node), `O = X, CN = Y` (OpenSSL) and `CN=Y, O=X` (RFC 4514) all become `CN=Y,O=X` (sorted). */
export function normalizeDn(dn: string): string {
  return dn
    .split(dn.includes('\n') ? '\n' : /,\s*(?=[A-Za-z0-9.]+\s*=)/)
    .map((part) => {
      const i = part.indexOf('=');
      return i < 0 ? part.trim() : `${part.slice(0, i).trim().toUpperCase()}=${part.slice(i + 1).trim()}`;
    })
    .sort()
    .join(',');
}

export function oneLineDn(dn: string): string {
  return dn.split('\n').join(', ');
}

function identityOf(cert: X509Certificate): string {
  const san = cert.subjectAltName ?? '';
  const uri = /URI:(spiffe:\/\/[^,\s]+)/.exec(san)?.[1];
  if (uri) return uri;
  const dns = /DNS:([^,\s]+)/.exec(san)?.[1];
  return dns ?? oneLineDn(cert.subject);
}

export function clientFacts(chainPem: string, keyPem: string, now: Date): ClientFacts {
  const chain = pemBlocks(chainPem, ['CERTIFICATE']).map((p) => new X509Certificate(p));
  const leaf = chain[0] as X509Certificate;
  let keyMatches = false;
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    keyMatches = fromKey.equals(leaf.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    keyMatches = false;
  }
  const px = new x509.X509Certificate(leaf.raw);
  const ekuExt = px.getExtension(x509.ExtendedKeyUsageExtension);
  const ekuOids = ekuExt ? ekuExt.usages.map(String) : [];
  const eku = ekuOids.map((o) => EKU_NAMES[o] ?? o);
  const crlExt = px.getExtension(x509.CRLDistributionPointsExtension);
  const crlUrls: string[] = [];
  for (const dp of crlExt?.distributionPoints ?? []) {
    for (const gn of dp.distributionPoint?.fullName ?? []) {
      if (gn.uniformResourceIdentifier) crlUrls.push(gn.uniformResourceIdentifier);
    }
  }
  const aia = px.getExtension(x509.AuthorityInfoAccessExtension);
  const ocspUrls = (aia?.ocsp ?? []).filter((g) => g.type === 'url').map((g) => g.value);
  return {
    leaf,
    chain,
    identity: identityOf(leaf),
    keyMatches,
    expired: new Date(leaf.validTo).getTime() < now.getTime(),
    notYetValid: new Date(leaf.validFrom).getTime() > now.getTime(),
    clientAuth: ekuExt ? ekuOids.includes(CLIENT_AUTH) || ekuOids.includes(ANY_EKU) : undefined,
    eku,
    crlUrls,
    ocspUrls,
  };
}

/** True when a certificate of the client chain is, or is issued by, one of the server's acceptable CA names. */
export function issuedByAcceptable(facts: ClientFacts, caNames: readonly string[]): boolean {
  const wanted = new Set(caNames.map(normalizeDn));
  return facts.chain.some((c) => wanted.has(normalizeDn(c.issuer)) || wanted.has(normalizeDn(c.subject)));
}

export interface RevocationCheck {
  readonly revoked: boolean;
  readonly checked: boolean;
  readonly source: string;
  readonly revokedAt?: string | undefined;
  readonly note?: string | undefined;
}

/**
 * Looks the leaf up in CRLs issued by its issuer. A CRL is used only when its signature verifies
 * with the issuer certificate from the client's own chain.
 */
export async function checkCrls(
  facts: ClientFacts,
  crlPems: readonly string[],
  source: string,
): Promise<RevocationCheck> {
  const issuerCert = facts.chain.find((c) => c !== facts.leaf && facts.leaf.checkIssued(c));
  const serial = facts.leaf.serialNumber.toLowerCase().replace(/^0+/, '');
  let checked = false;
  let note: string | undefined;
  for (const pem of crlPems) {
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(pem);
    } catch {
      note = 'a CRL could not be parsed';
      continue;
    }
    if (normalizeDn(crl.issuer) !== normalizeDn(facts.leaf.issuer) && issuerCert === undefined) {
      continue;
    }
    if (issuerCert) {
      const ok = await crl.verify({ publicKey: new x509.X509Certificate(issuerCert.raw) }).catch(() => false);
      if (!ok) {
        note = "a CRL's signature does not verify with your issuer's key";
        continue;
      }
    }
    checked = true;
    const entry = crl.entries.find((e) => e.serialNumber.toLowerCase().replace(/^0+/, '') === serial);
    if (entry) return { revoked: true, checked, source, revokedAt: entry.revocationDate.toISOString() };
  }
  return { revoked: false, checked, source, note };
}

/** Fetches a CRL from an http(s) distribution point (DER or PEM), capped at 4 MiB and `timeoutMs`. */
export async function fetchCrl(url: string, timeoutMs: number): Promise<string | undefined> {
  if (!/^https?:\/\//.test(url)) return undefined;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) return undefined;
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > 4 * 1024 * 1024) return undefined;
  const text = body.toString('latin1');
  if (text.includes('-----BEGIN')) return text;
  return `-----BEGIN X509 CRL-----\n${body.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----`;
}
