/**
 * Adapter from one x509-limbo test case (schema version 1) to a verification, for conformance
 * measurement (`mutual verify --limbo-case`). Cases that exercise a rule mutual deliberately does
 * not implement are answered SKIP with the reason listed in UNSUPPORTED.
 */
import { PathVerifier } from './verifier.js';
import type { ExpectedName, Reason, VerifyRequest } from './types.js';

export type LimboVerdict = 'ACCEPT' | 'REJECT' | 'SKIP';

export interface LimboOutcome {
  readonly verdict: LimboVerdict;
  readonly reason: string;
}

const CA_LEAF =
  'RFC 5280 allows a CA certificate as the leaf; mutual refuses CA leaves by default (DESIGN §6: CA leaves are hostile in mTLS). `allowCaLeaf: true` accepts them.';

/** Features and cases mutual deliberately does not support, with the reason (also in docs/conformance.md). */
export const UNSUPPORTED: readonly {
  readonly match: string;
  readonly kind: 'feature' | 'id' | 'namespace';
  readonly reason: string;
}[] = [
  {
    kind: 'feature',
    match: 'pedantic-public-suffix-wildcard',
    reason:
      'Wildcards on public suffixes need the Public Suffix List; mutual verifies private PKIs and ships no PSL. Wildcards must still be the whole left-most label with at least two labels after it.',
  },
  {
    kind: 'feature',
    match: 'pedantic-webpki-eku',
    reason:
      'CA/Browser Forum rule that a leaf must carry a (non-critical) EKU. mutual follows RFC 5280: no EKU extension means any purpose (the conflicting rfc5280::eku::ee-without-eku case is honoured).',
  },
  {
    kind: 'id',
    match: 'rfc5280::ca-as-leaf',
    reason: CA_LEAF,
  },
  {
    kind: 'id',
    match: 'pathlen::validation-ignores-pathlen-in-leaf',
    reason: CA_LEAF,
  },
  {
    kind: 'namespace',
    match: 'webpki::cn',
    reason:
      'CA/Browser Forum BR 7.1.4.3 (a host-like subject CN must copy a SAN entry). mutual never reads the CN as a name, so an inconsistent CN cannot change a verdict; enforcing the rule would refuse the BetterTLS chains whose CN differs from the SAN and that must be accepted.',
  },
];

interface LimboName {
  kind: string;
  value: string;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function strArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function formatReasons(reasons: readonly Reason[]): string {
  return reasons
    .map((r) => {
      const where = r.cert ? ` [${r.cert.index !== undefined ? `#${r.cert.index} ` : ''}${r.cert.subject}]` : '';
      return `${r.code}${where}: ${r.message}`;
    })
    .join('; ');
}

/** Runs one limbo test case. `now` stands in for a null validation_time. Never throws. */
export function runLimboCase(testcase: unknown, now?: Date): LimboOutcome {
  if (typeof testcase !== 'object' || testcase === null)
    return { verdict: 'SKIP', reason: 'input is not a limbo test case' };
  const tc = testcase as Record<string, unknown>;
  const id = str(tc['id']) ?? '';
  const features = strArray(tc['features']);
  for (const u of UNSUPPORTED) {
    if (
      (u.kind === 'feature' && features.includes(u.match)) ||
      (u.kind === 'id' && id === u.match) ||
      (u.kind === 'namespace' && id.startsWith(u.match + '::'))
    ) {
      return { verdict: 'SKIP', reason: `deliberately unsupported: ${u.reason}` };
    }
  }
  if (strArray(tc['signature_algorithms']).length > 0) {
    return { verdict: 'SKIP', reason: 'signature_algorithms constraints are not an input of mutual verify' };
  }
  const kind = str(tc['validation_kind']);
  if (kind !== 'SERVER' && kind !== 'CLIENT')
    return { verdict: 'SKIP', reason: `validation_kind ${String(kind)} not supported` };
  const leaf = str(tc['peer_certificate']);
  if (!leaf) return { verdict: 'SKIP', reason: 'no peer_certificate' };

  const names: ExpectedName[] = [];
  const toName = (n: unknown): void => {
    if (typeof n !== 'object' || n === null) return;
    const { kind: k, value } = n as LimboName;
    if ((k === 'DNS' || k === 'IP' || k === 'RFC822') && typeof value === 'string') {
      names.push({ kind: k === 'RFC822' ? 'EMAIL' : k, value });
    }
  };
  toName(tc['expected_peer_name']);
  if (Array.isArray(tc['expected_peer_names'])) for (const n of tc['expected_peer_names']) toName(n);

  const ekus = strArray(tc['extended_key_usage']);
  const purpose =
    ekus.includes('clientAuth') && !ekus.includes('serverAuth')
      ? 'client'
      : ekus.includes('serverAuth')
        ? 'server'
        : kind === 'CLIENT'
          ? 'client'
          : 'server';
  const time = str(tc['validation_time']);
  const at = time ? new Date(time) : now;
  if (!at) return { verdict: 'SKIP', reason: 'the case has no validation_time and no current time was given' };
  const maxDepth = tc['max_chain_depth'];

  try {
    const verifier = new PathVerifier({ anchors: strArray(tc['trusted_certs']) });
    const request: VerifyRequest = {
      leaf,
      intermediates: strArray(tc['untrusted_intermediates']),
      at,
      purpose,
      ...(ekus.length > 0 ? { extendedKeyUsage: ekus } : {}),
      ...(strArray(tc['key_usage']).length > 0 ? { keyUsage: strArray(tc['key_usage']) } : {}),
      ...(names.length > 0 ? { expectedNames: names } : {}),
      ...(typeof maxDepth === 'number' ? { maxDepth } : {}),
      crls: strArray(tc['crls']),
    };
    const result = verifier.verify(request);
    if (result.ok) {
      const idn = result.identity;
      return {
        verdict: 'ACCEPT',
        reason: `path of ${result.path.length}; identity ${idn?.type ?? 'none'}${idn?.value !== undefined ? ` ${idn.value}` : ''}`,
      };
    }
    return { verdict: 'REJECT', reason: formatReasons(result.reasons) };
  } catch (err) {
    // A verifier bug must never turn into an accept.
    return { verdict: 'REJECT', reason: `internal error: ${err instanceof Error ? err.message : String(err)}` };
  }
}
