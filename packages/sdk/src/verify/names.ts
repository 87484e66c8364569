/**
 * Name syntax and matching: DNS names (RFC 1034 preferred syntax, left-most wildcard only),
 * IP addresses, mailboxes and URI hosts, the peer-name match (no CN fallback) and the
 * name-constraint match for every name form the verifier processes.
 */
import type { Attr, GeneralName, Name } from './certificate.js';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A DNS name in preferred syntax, lower-cased by the caller or not; no wildcard, no trailing dot. */
export function isDnsName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.toLowerCase().split('.');
  for (const l of labels) if (!LABEL.test(l)) return false;
  // An all-numeric last label is an IP address written as a name.
  const last = labels[labels.length - 1] as string;
  return !/^[0-9]+$/.test(last);
}

/** A SAN dNSName: a DNS name, or `*.` followed by a DNS name of at least two labels. */
export function isSanDnsName(s: string): boolean {
  if (s.startsWith('*.')) {
    const rest = s.slice(2);
    return isDnsName(rest) && rest.includes('.');
  }
  return isDnsName(s);
}

/** Matches a reference DNS name against one presented dNSName (RFC 6125: left-most wildcard, one label). */
export function dnsMatches(presented: string, reference: string): boolean {
  const p = presented.toLowerCase();
  const r = reference.toLowerCase();
  if (p.startsWith('*.')) {
    const dot = r.indexOf('.');
    if (dot <= 0) return false;
    return r.slice(dot + 1) === p.slice(2);
  }
  return p === r;
}

export function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

export function parseIPv6(s: string): Uint8Array | undefined {
  if (s.length === 0 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as string;
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (!v4) return undefined;
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0] as string);
  const tail = halves.length === 2 ? parseGroups(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  const groups: number[] = [];
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    groups.push(...head, ...new Array<number>(fill).fill(0), ...tail);
  } else {
    if (head.length !== 8) return undefined;
    groups.push(...head);
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function parseIp(s: string): Uint8Array | undefined {
  return s.includes(':') ? parseIPv6(s) : parseIPv4(s);
}

export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) return `(${b.length}-byte address)`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] as number) << 8) | (b[i + 1] as number));
  // RFC 5952: compress the longest run (≥ 2) of zero groups, lower case, no leading zeros.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hexes = g.map((x) => x.toString(16));
  if (bestStart < 0) return hexes.join(':');
  return `${hexes.slice(0, bestStart).join(':')}::${hexes.slice(bestStart + bestLen).join(':')}`;
}

/** A mailbox `local@domain` (RFC 5280 rfc822Name): printable local part, DNS-name domain. */
export function isMailbox(s: string): boolean {
  const at = s.lastIndexOf('@');
  if (at <= 0 || s.indexOf('@') !== at) return false;
  const local = s.slice(0, at);
  if (!/^[\x21-\x7e]+$/.test(local)) return false;
  return isDnsName(s.slice(at + 1));
}

/** The host of a URI with an authority (`scheme://[userinfo@]host[:port]/...`), lower-cased; undefined otherwise. */
export function uriHost(uri: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri);
  if (!m) return undefined;
  let auth = m[1] as string;
  const at = auth.lastIndexOf('@');
  if (at >= 0) auth = auth.slice(at + 1);
  if (auth.startsWith('[')) return undefined; // IP literal
  const colon = auth.indexOf(':');
  if (colon >= 0) {
    if (!/^[0-9]*$/.test(auth.slice(colon + 1))) return undefined;
    auth = auth.slice(0, colon);
  }
  return auth.toLowerCase();
}

export function isUri(s: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/.test(s);
}

// ------------------------------------------------------------------ name constraints

export type NameForm = 'dns' | 'email' | 'uri' | 'ip' | 'dn' | `other:${number}`;

export function formOf(n: GeneralName): NameForm {
  return n.type === 'other' ? `other:${n.tag}` : n.type;
}

/** Is a constraint itself well formed? (RFC 5280 4.2.1.10 syntax, CIDR masks.) */
export function constraintValid(c: GeneralName): boolean {
  switch (c.type) {
    case 'dns':
      return c.value === '' || isDnsName(c.value);
    case 'email':
      if (c.value.includes('@')) return isMailbox(c.value);
      return c.value.startsWith('.') ? isDnsName(c.value.slice(1)) : isDnsName(c.value);
    case 'uri':
      return c.value.startsWith('.') ? isDnsName(c.value.slice(1)) : isDnsName(c.value);
    case 'ip': {
      if (c.bytes.length !== 8 && c.bytes.length !== 32) return false;
      const mask = c.bytes.subarray(c.bytes.length / 2);
      let seenZero = false;
      for (const byte of mask) {
        for (let bit = 7; bit >= 0; bit--) {
          const one = ((byte >> bit) & 1) === 1;
          if (one && seenZero) return false;
          if (!one) seenZero = true;
        }
      }
      return true;
    }
    case 'dn':
      return true;
    case 'other':
      return true;
  }
}

function dnsWithin(name: string, base: string): boolean {
  if (base === '') return true;
  return name === base || name.endsWith('.' + base);
}

/**
 * Does a DNS name fall within constraint `c`? For a wildcard name the answer depends on the use:
 * `permitted` needs every name the pattern can stand for inside the subtree; `excluded` trips if
 * any of them could be inside (the defensive reading, CVE-2025-61727).
 */
function dnsConstraintMatch(nameIn: string, cIn: string, mode: 'permitted' | 'excluded'): boolean {
  const name = nameIn.toLowerCase();
  const c = cIn.toLowerCase();
  if (!name.startsWith('*.')) return dnsWithin(name, c);
  const base = name.slice(2);
  if (dnsWithin(base, c) && base !== c) return true;
  if (base === c) return true; // every x.c is within c
  if (mode === 'permitted') return false;
  // excluded: the pattern *.base stands for c itself when c is one label below base.
  const dot = c.indexOf('.');
  return dot > 0 && c.slice(dot + 1) === base;
}

function emailMatch(name: string, c: string): boolean {
  const at = name.lastIndexOf('@');
  if (at < 0) return false;
  const local = name.slice(0, at);
  const domain = name.slice(at + 1).toLowerCase();
  if (c.includes('@')) {
    const cat = c.lastIndexOf('@');
    return local === c.slice(0, cat) && domain === c.slice(cat + 1).toLowerCase();
  }
  const lc = c.toLowerCase();
  if (lc.startsWith('.')) return domain.endsWith(lc);
  return domain === lc;
}

function uriMatch(uri: string, c: string): boolean {
  const host = uriHost(uri);
  if (host === undefined || host === '' || !isDnsName(host)) return false;
  const lc = c.toLowerCase();
  if (lc.startsWith('.')) return host.endsWith(lc);
  return host === lc;
}

function ipMatch(ip: Uint8Array, c: Uint8Array): boolean {
  const half = c.length / 2;
  if (ip.length !== half) return false;
  for (let i = 0; i < half; i++) {
    const m = c[half + i] as number;
    if (((ip[i] as number) & m) !== ((c[i] as number) & m)) return false;
  }
  return true;
}

function normText(s: string): string {
  return s.trim().replace(/\s+/g, ' ').toLowerCase();
}

function attrEqual(a: Attr, b: Attr): boolean {
  if (a.oid !== b.oid) return false;
  if (a.text !== undefined && b.text !== undefined) return normText(a.text) === normText(b.text);
  if (a.tag !== b.tag || a.value.length !== b.value.length) return false;
  for (let i = 0; i < a.value.length; i++) if (a.value[i] !== b.value[i]) return false;
  return true;
}

/** Directory name constraint: the constraint's RDNs are a prefix of the name's. */
export function dnWithin(name: Name, c: Name): boolean {
  if (c.rdns.length > name.rdns.length) return false;
  for (let i = 0; i < c.rdns.length; i++) {
    const x = name.rdns[i] as readonly Attr[];
    const y = c.rdns[i] as readonly Attr[];
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (!attrEqual(x[j] as Attr, y[j] as Attr)) return false;
  }
  return true;
}

/** Does `name` (of the same form) fall within constraint `c`? */
export function constraintMatches(name: GeneralName, c: GeneralName, mode: 'permitted' | 'excluded'): boolean {
  if (name.type === 'dns' && c.type === 'dns') return dnsConstraintMatch(name.value, c.value, mode);
  if (name.type === 'email' && c.type === 'email') return emailMatch(name.value, c.value);
  if (name.type === 'uri' && c.type === 'uri') return uriMatch(name.value, c.value);
  if (name.type === 'ip' && c.type === 'ip') return ipMatch(name.bytes, c.bytes);
  if (name.type === 'dn' && c.type === 'dn') return dnWithin(name.name, c.name);
  return false;
}

export function describeGeneralName(n: GeneralName): string {
  switch (n.type) {
    case 'dns':
      return `DNS:${n.value}`;
    case 'email':
      return `email:${n.value}`;
    case 'uri':
      return `URI:${n.value}`;
    case 'ip':
      return n.bytes.length === 8 || n.bytes.length === 32
        ? `IP:${formatIp(n.bytes.subarray(0, n.bytes.length / 2))}/${formatIp(n.bytes.subarray(n.bytes.length / 2))}`
        : `IP:${formatIp(n.bytes)}`;
    case 'dn':
      return 'DirName';
    case 'other':
      return `GeneralName[${n.tag}]`;
  }
}
