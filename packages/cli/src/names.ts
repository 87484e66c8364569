import { isIP } from 'node:net';

export interface NameSet {
  dns: string[];
  ip: string[];
  uri: string[];
  email: string[];
}

/**
 * Sorts command-line names into SAN types the way a user means them: `spiffe://…` and other
 * URIs, `user@host` emails, IP addresses, and everything else as a DNS name. The policy decides
 * later whether each is valid and allowed.
 */
export function classifyNames(names: readonly string[], extra: Partial<NameSet> = {}): NameSet {
  const out: NameSet = { dns: [], ip: [], uri: [], email: [] };
  for (const name of names) {
    if (name.includes('://')) out.uri.push(name);
    else if (name.includes('@')) out.email.push(name);
    else if (isIP(name) !== 0) out.ip.push(name);
    else out.dns.push(name);
  }
  out.ip.push(...(extra.ip ?? []));
  out.uri.push(...(extra.uri ?? []));
  out.email.push(...(extra.email ?? []));
  out.dns.push(...(extra.dns ?? []));
  return out;
}

/** A file-name-safe base for a certificate's files, like mkcert's (`*.x.com` → `_wildcard.x.com`). */
export function fileBaseFor(name: string): string {
  const base = name
    .replace(/^spiffe:\/\//, '')
    .replace(/^\*/, '_wildcard')
    .replace(/[^A-Za-z0-9._@-]+/g, '_')
    .replace(/^[._]+/, '');
  return base.slice(0, 100) || 'certificate';
}
