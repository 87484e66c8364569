/** One OCSP query (RFC 6960, POST) for the client certificate, at the responder its AIA names; signed answers only. */
import { verify, X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import type { ClientFacts, RevocationCheck } from './client-checks.js';

const STATUS = ['good', 'revoked', 'unknown'] as const;
const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
const HASH: Readonly<Record<string, string | null>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null,
};

/**
 * True when the answer's signature verifies with the issuer's key, or with a delegated responder
 * certificate the answer carries that the issuer signed and that has id-kp-OCSPSigning (RFC 6960 §4.2.2.2).
 */
function signedByIssuerOrDelegate(basic: pkijs.BasicOCSPResponse, issuer: X509Certificate): boolean {
  const alg = basic.signatureAlgorithm.algorithmId;
  if (!(alg in HASH)) return false;
  const hash = HASH[alg] ?? null;
  const tbs = basic.tbsResponseData.tbsView;
  const signature = basic.signature.valueBlock.valueHexView;
  const check = (cert: X509Certificate): boolean => {
    try {
      return verify(hash, tbs, cert.publicKey, signature);
    } catch {
      return false;
    }
  };
  if (check(issuer)) return true;
  for (const c of basic.certs ?? []) {
    const responder = new X509Certificate(Buffer.from(c.toSchema().toBER()));
    const eku = c.extensions?.find((e) => e.extnID === '2.5.29.37')?.parsedValue as
      { keyPurposes?: string[] } | undefined;
    if (
      responder.checkIssued(issuer) &&
      responder.verify(issuer.publicKey) &&
      eku?.keyPurposes?.includes(OCSP_SIGNING)
    ) {
      if (check(responder)) return true;
    }
  }
  return false;
}

export async function checkOcsp(facts: ClientFacts, url: string, timeoutMs: number): Promise<RevocationCheck> {
  const source = `OCSP ${url}`;
  const issuer: X509Certificate | undefined = facts.chain.find((c) => c !== facts.leaf && facts.leaf.checkIssued(c));
  if (issuer === undefined) {
    return { revoked: false, checked: false, source, note: 'your chain file does not hold the issuer certificate' };
  }
  if (!/^https?:\/\//.test(url)) return { revoked: false, checked: false, source, note: 'not an http(s) URL' };
  const leaf = pkijs.Certificate.fromBER(new Uint8Array(facts.leaf.raw));
  const issuerCert = pkijs.Certificate.fromBER(new Uint8Array(issuer.raw));
  const request = new pkijs.OCSPRequest();
  await request.createForCertificate(leaf, { hashAlgorithm: 'SHA-1', issuerCertificate: issuerCert });
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/ocsp-request' },
    body: new Uint8Array(request.toSchema(true).toBER()),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = new Uint8Array(await res.arrayBuffer());
  if (!res.ok || body.length > 1024 * 1024) {
    return { revoked: false, checked: false, source, note: `the responder answered HTTP ${res.status}` };
  }
  const response = pkijs.OCSPResponse.fromBER(body);
  if (response.responseStatus.valueBlock.valueDec !== 0) {
    return {
      revoked: false,
      checked: false,
      source,
      note: `the responder refused the request (OCSP status ${response.responseStatus.valueBlock.valueDec})`,
    };
  }
  const bytes = response.responseBytes;
  if (bytes?.responseType !== '1.3.6.1.5.5.7.48.1.1') {
    return { revoked: false, checked: false, source, note: 'the responder sent no basic OCSP response' };
  }
  const basic = pkijs.BasicOCSPResponse.fromBER(bytes.response.valueBlock.valueHexView);
  if (!signedByIssuerOrDelegate(basic, issuer)) {
    return {
      revoked: false,
      checked: false,
      source,
      note: "the OCSP answer's signature does not verify with your issuer",
    };
  }
  const status = await basic.getCertificateStatus(leaf, issuerCert);
  if (!status.isForCertificate) {
    return { revoked: false, checked: false, source, note: 'the OCSP answer is about another certificate' };
  }
  const word = STATUS[status.status] ?? 'unknown';
  if (word === 'unknown') return { revoked: false, checked: false, source, note: 'the responder does not know it' };
  return { revoked: word === 'revoked', checked: true, source };
}
