/** Options of isValidDnsName. */
export interface DnsNameOptions {
  /** Accept a left-most `*` label (`*.example.com`). Default false. */
  allowWildcard?: boolean;
}

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * True for a DNS host name as certificates carry it: LDH labels of 1–63 characters (case does not
 * matter), total ≤ 253, no trailing dot, no NUL/CR/LF/space or other characters, internationalized
 * labels only as `xn--` A-labels (other labels with `--` in positions 3–4 are reserved), the last
 * label not all-numeric (so an IPv4 address is never a DNS name), and a wildcard only as the whole
 * left-most label followed by at least two labels.
 */
export function isValidDnsName(name: string, opts: DnsNameOptions = {}): boolean {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253) return false;
  const labels = name.toLowerCase().split('.');
  if (labels[0] === '*') {
    if (opts.allowWildcard !== true || labels.length < 3) return false;
    labels.shift();
  }
  for (const label of labels) {
    if (!LDH_LABEL.test(label)) return false;
    if (label.length >= 4 && label[2] === '-' && label[3] === '-' && !(label.startsWith('xn--') && label.length > 4)) {
      return false;
    }
  }
  const last = labels[labels.length - 1] ?? '';
  return !/^[0-9]+$/.test(last);
}
