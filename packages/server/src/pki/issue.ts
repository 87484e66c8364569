import { createHash } from 'node:crypto';
import { MutualError } from '@mutual/sdk';
import { buildCertificate, type BuildCertificateInput, type BuiltCertificate } from './certificate.js';
import { lintWithHints } from './lint.js';

export interface IssueOptions {
  /**
   * Also re-parse the DER with asn1js (lintCertificate always does). Off by default on this hot
   * path: asn1js costs more than signing, building and every other lint rule together, while the
   * strict DER reader and node:crypto's X509Certificate still parse every certificate.
   */
  asn1jsCrossCheck?: boolean;
}

/**
 * Builds a certificate and lints it against its profile, its issuer and the names asked for.
 * Any finding means mutual built something it must not hand out: ERR_PKI_LINT_FAILED (internal),
 * with the findings in details, and the certificate is discarded.
 */
export function issueCertificate(input: BuildCertificateInput, options: IssueOptions = {}): BuiltCertificate {
  const built = buildCertificate(input);
  const findings = lintWithHints(
    'selfSigned' in input.issuer
      ? { der: built.der, profile: input.profile, expectedNames: input.names }
      : { der: built.der, issuerDer: input.issuer.certificateDer, profile: input.profile, expectedNames: input.names },
    { subjectKey: input.publicKey, asn1js: options.asn1jsCrossCheck ?? false },
  );
  if (findings.length > 0) {
    throw new MutualError('ERR_PKI_LINT_FAILED', {
      message: `The certificate failed lint: ${findings.map((f) => f.rule).join(', ')}.`,
      details: { findings },
    });
  }
  return built;
}

/** Lowercase hex SHA-256 of a DER object (a certificate's fingerprint). */
export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}
