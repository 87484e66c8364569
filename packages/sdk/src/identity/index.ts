/**
 * identity: who a certificate names — SPIFFE ID, DNS names, IPs, URIs, emails — read strictly from
 * its DER, plus the SPIFFE-ID and DNS-name grammars. It never reads string forms (subjectAltName
 * text, subject DNs) and never decides trust: only a verified leaf's identity means anything.
 */
export {
  parseSpiffeId,
  isValidSpiffeId,
  spiffeIdProblem,
  SPIFFE_ID_MAX_BYTES,
  type SpiffeId,
  type SpiffeIdInvalidReason,
} from './spiffe.js';
export { isValidDnsName, type DnsNameOptions } from './dns.js';
export { extractIdentity, sha256Fingerprint, type Identity } from './identity.js';
export { keyUsageNames, extendedKeyUsageName } from './usage-names.js';
