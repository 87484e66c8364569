import { createHash } from 'node:crypto';
import { MutualError } from '@mutual/sdk';
import { buildCertificate, type BuildCertificateInput, type BuiltCertificate } from './certificate.js';
import { lintCertificate } from './lint.js';

/**
 * Builds a certificate and lints it against its profile, its issuer and the names asked for.
 * Any finding means mutual built something it must not hand out: ERR_PKI_LINT_FAILED (internal),
 * with the findings in details, and the certificate is discarded.
 */
export function issueCertificate(input: BuildCertificateInput): BuiltCertificate {
  const built = buildCertificate(input);
  const findings = lintCertificate(
    'selfSigned' in input.issuer
      ? { der: built.der, profile: input.profile, expectedNames: input.names }
      : { der: built.der, issuerDer: input.issuer.certificateDer, profile: input.profile, expectedNames: input.names },
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
