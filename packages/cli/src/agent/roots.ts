import { X509Certificate, createHash } from 'node:crypto';
import { encodePem, readDerObjects } from '@mutual/sdk';

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const spki = (x: X509Certificate): string => x.publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
const validAt = (x: X509Certificate, now: Date): boolean =>
  Date.parse(x.validFrom) <= now.getTime() && now.getTime() <= Date.parse(x.validTo);

/** A root the CA offers that a root already trusted endorsed (ADR 0030). */
export interface EndorsedRoot {
  readonly der: Uint8Array;
  readonly fingerprint: string;
  /** SHA-256 of the trusted root whose key signed the cross-certificate. */
  readonly endorsedBy: string;
}

/**
 * Which of the roots the CA offers (`/v1/roots`) may be trusted on the word of a root trusted
 * already: a self-signed CA certificate valid now, whose exact subject and key a cross-certificate
 * (a CA certificate valid now) certifies, that cross-certificate signed by a trusted root. Such a
 * root adds nothing a trusted root's key had not already vouched for; anything else the CA lists —
 * a root without such a cross-certificate, one certified by an untrusted key — is ignored.
 */
export function endorsedRoots(
  trusted: readonly Uint8Array[],
  offered: { readonly roots: readonly string[]; readonly crossCertificates?: readonly string[] | undefined },
  now: Date,
): EndorsedRoot[] {
  const parse = (pem: string): X509Certificate[] => {
    try {
      return readDerObjects(pem, ['CERTIFICATE']).map((der) => new X509Certificate(der));
    } catch {
      return [];
    }
  };
  const anchors = trusted.map((der) => new X509Certificate(der));
  const known = new Set(trusted.map(sha256));
  const crosses = (offered.crossCertificates ?? []).flatMap(parse).filter((c) => c.ca && validAt(c, now));
  const out: EndorsedRoot[] = [];
  for (const root of offered.roots.flatMap(parse)) {
    const fingerprint = sha256(root.raw);
    if (known.has(fingerprint) || !root.ca || !validAt(root, now)) continue;
    if (!(root.checkIssued(root) && root.verify(root.publicKey))) continue;
    for (const cross of crosses) {
      if (cross.subject !== root.subject || spki(cross) !== spki(root)) continue;
      const by = anchors.find((a) => cross.checkIssued(a) && cross.verify(a.publicKey));
      if (by === undefined) continue;
      out.push({ der: new Uint8Array(root.raw), fingerprint, endorsedBy: sha256(by.raw) });
      known.add(fingerprint);
      break;
    }
  }
  return out;
}

/** The roots an agent trusts: those of its root file and trust bundle, plus the ones it learns. */
export class TrustedRoots {
  #ders: Uint8Array[];

  constructor(pems: readonly (string | Uint8Array)[]) {
    const seen = new Set<string>();
    this.#ders = [];
    for (const pem of pems)
      for (const der of readDerObjects(pem, ['CERTIFICATE'])) {
        const fp = sha256(der);
        if (seen.has(fp)) continue;
        seen.add(fp);
        this.#ders.push(der);
      }
  }

  ders(): readonly Uint8Array[] {
    return this.#ders;
  }

  fingerprints(): string[] {
    return this.#ders.map(sha256);
  }

  add(der: Uint8Array): void {
    if (!this.fingerprints().includes(sha256(der))) this.#ders = [...this.#ders, der];
  }

  pem(): string {
    return this.#ders.map((der) => encodePem(der, 'CERTIFICATE')).join('');
  }
}
