/** Judges the server's presented chain with mutual's verifier and turns its reasons into findings. */
import { X509Certificate } from 'node:crypto';
import { createVerifier, describeReason } from '@mutual/sdk';
import { formatTimeLeft } from '../output/index.js';
import { oneLineDn } from './client-checks.js';
import type { Material } from './material.js';
import type { Target } from './target.js';
import type { CertSummary, Finding } from './types.js';

export function summarize(der: Buffer): CertSummary {
  const c = new X509Certificate(der);
  const names = (c.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n !== '')
    .map((n) => n.replace(/^IP Address:/, 'IP:'));
  return {
    subject: oneLineDn(c.subject),
    issuer: oneLineDn(c.issuer),
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    fingerprint: c.fingerprint256.replace(/:/g, '').toLowerCase(),
    names,
  };
}

function isCa(c: X509Certificate): boolean {
  return c.ca;
}

export function judgeServerChain(
  chain: readonly Buffer[],
  material: Material,
  target: Target,
  now: Date,
  caFlag: string,
): { ok: boolean; findings: Finding[]; detail: string } {
  const leafDer = chain[0];
  if (leafDer === undefined) {
    return { ok: false, findings: [], detail: 'the server presented no certificate' };
  }
  const certs = chain.map((d) => new X509Certificate(d));
  const leaf = certs[0] as X509Certificate;
  const verifier = createVerifier({ anchors: material.anchors });
  const result = verifier.verify({
    leaf: leafDer,
    intermediates: chain.slice(1),
    at: now,
    purpose: 'server',
    expectedNames: [target.host],
  });
  const leafSummary = summarize(leafDer);
  if (result.ok) {
    return {
      ok: true,
      findings: [],
      detail: `${leafSummary.subject} (${leafSummary.names.join(', ')}), valid until ${leafSummary.notAfter}, chains to ${result.path.at(-1)?.subject ?? '?'} in ${material.anchorSource}`,
    };
  }
  const findings: Finding[] = [];
  const anchorSubjects = new Set(material.anchors.map((p) => new X509Certificate(p).subject));
  for (const r of result.reasons) {
    if (r.code === 'EXPIRED') {
      const c = certs[r.cert?.index ?? 0] ?? leaf;
      const what = c === leaf ? "The server's certificate" : `The server's CA certificate ${oneLineDn(c.subject)}`;
      findings.push({
        id: 'server-cert-expired',
        severity: 'error',
        side: 'server',
        summary: `${what} expired ${formatTimeLeft(new Date(c.validTo), now).replace(/^expired /, '')} (${new Date(c.validTo).toISOString()}).`,
        explanation: `${what} was valid until ${new Date(c.validTo).toISOString()}; by this machine's clock it is ${now.toISOString()}. Every client refuses it.`,
        fix: `On the server: issue a fresh certificate and reload it — \`mutual cert issue ${target.host} --profile server\` (or \`mutual cert renew <server.crt>\` before it expires; the renewal agent does this at 2/3 of the lifetime).`,
      });
    } else if (r.code === 'NOT_YET_VALID') {
      const c = certs[r.cert?.index ?? 0] ?? leaf;
      const skewMs = new Date(c.validFrom).getTime() - now.getTime();
      const minutes = Math.ceil(skewMs / 60_000);
      findings.push({
        id: 'server-cert-not-yet-valid',
        severity: 'error',
        side: 'server',
        summary: `The server's certificate is not valid until ${new Date(c.validFrom).toISOString()}, ${minutes} min from now by this machine's clock.`,
        explanation: `Either this machine's clock is behind by at least ${minutes} min (estimated clock skew), or the certificate was issued by a CA whose clock is ahead. Certificates from mutual are backdated 1 min, so a small skew is already tolerated.`,
        fix: 'Compare the clocks: `date -u` here and on the CA; fix the slow one with NTP (`timedatectl set-ntp true`, `chronyc makestep`). Then retry.',
      });
    } else if (r.code === 'NAME_MISMATCH') {
      findings.push({
        id: 'server-name-mismatch',
        severity: 'error',
        side: 'server',
        summary: `The server's certificate is not valid for "${target.host}".`,
        explanation: `It names ${leafSummary.names.length > 0 ? leafSummary.names.join(', ') : 'no subjectAltName at all'}; mutual (like every modern client) matches the name you connect to against the subjectAltNames only, never the subject CN.`,
        fix: `Connect with a name the certificate carries${leafSummary.names[0] ? ` (e.g. ${leafSummary.names[0].replace(/^(DNS|IP):/, '')})` : ''}, or issue the server a certificate for it: \`mutual cert issue ${target.host} --profile server\`.`,
      });
    } else if (
      r.code === 'UNKNOWN_ISSUER' &&
      !findings.some((f) => f.id === 'server-cert-untrusted' || f.id === 'server-chain-incomplete')
    ) {
      const top = certs.at(-1) as X509Certificate;
      const selfSigned = top.checkIssued(top);
      if (!isCa(top) && !selfSigned && !anchorSubjects.has(top.issuer)) {
        findings.push({
          id: 'server-chain-incomplete',
          severity: 'error',
          side: 'server',
          summary: `The server sent its certificate without the intermediate CA "${oneLineDn(top.issuer)}".`,
          explanation: `A server must present its leaf followed by its intermediates; clients only hold roots. The server sent ${certs.length} certificate(s) and none is the issuer of ${oneLineDn(top.subject)}.`,
          fix: 'Configure the server with the full chain file: `mutual cert issue` writes leaf + intermediate into <name>.crt (nginx `ssl_certificate`, gateway `tls.certificate`, s_server `-cert_chain`).',
        });
      } else {
        const missing = selfSigned ? oneLineDn(top.subject) : oneLineDn(top.issuer);
        findings.push({
          id: 'server-cert-untrusted',
          severity: 'error',
          side: 'server',
          summary: `The server's chain ends at "${missing}", which is not in your trust anchors (${material.anchorSource}).`,
          explanation: selfSigned
            ? `The server presents a self-signed certificate that you have not chosen to trust.`
            : `The server's chain is issued by the CA "${missing}" but your trust bundle does not hold that root, so the server cannot be authenticated.`,
          fix: `Trust that CA's root: \`${caFlag} <root of ${missing}>\`, or save it once with \`mutual ca bootstrap --ca-url <CA URL> --fingerprint <sha256 from mutual ca fingerprint>\`.`,
        });
      }
    }
  }
  if (findings.length === 0) {
    findings.push({
      id: 'server-cert-refused',
      severity: 'error',
      side: 'server',
      summary: "mutual's verifier refuses the server's certificate chain.",
      explanation: result.reasons.map((r) => describeReason(r)).join(' '),
      fix: `Inspect the chain with \`mutual cert inspect ${target.host}:${target.port}\` and reissue the server certificate from your CA with \`mutual cert issue ${target.host} --profile server\`.`,
    });
  }
  return { ok: false, findings, detail: result.reasons.map((r) => r.code).join(', ') };
}
