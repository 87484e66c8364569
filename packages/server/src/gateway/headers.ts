/**
 * Headers between client and upstream: hop-by-hop headers are dropped, every client-sent identity
 * header is stripped whatever its case or separator, and the gateway's own identity headers
 * (Envoy's X-Forwarded-Client-Cert, RFC 9440 Client-Cert) are built from the verified chain.
 */
import type { OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Identity headers only the gateway may set (compared after lower-casing and `_` → `-`). */
const IDENTITY_EXACT = new Set([
  'x-forwarded-client-cert',
  'client-cert',
  'client-cert-chain',
  'ssl-client-cert',
  'x-client-cert',
  'x-client-verify',
  'x-client-dn',
  'x-ssl-cert',
]);
const IDENTITY_PREFIXES = ['x-ssl-client-', 'ssl-client-', 'x-client-cert-', 'x-mutual-'];

/** True for a header name a client must never be able to send to the upstream. */
export function isIdentityHeader(name: string): boolean {
  const n = name.toLowerCase().replace(/_/g, '-');
  return IDENTITY_EXACT.has(n) || IDENTITY_PREFIXES.some((p) => n.startsWith(p));
}

/** Names listed in Connection are hop-by-hop too. */
function connectionTokens(connection: string | undefined): Set<string> {
  const out = new Set<string>();
  if (connection !== undefined) for (const t of connection.split(',')) out.add(t.trim().toLowerCase());
  return out;
}

/**
 * Request headers for the upstream from raw client headers: hop-by-hop and identity headers
 * removed (`keepUpgrade` keeps Connection/Upgrade for a WebSocket handshake), the rest as sent.
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  connection: string | undefined,
  keepUpgrade: boolean,
): OutgoingHttpHeaders {
  const listed = connectionTokens(connection);
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    if (isIdentityHeader(name)) continue;
    if ((HOP_BY_HOP.has(name) || listed.has(name)) && !(keepUpgrade && (name === 'upgrade' || name === 'connection')))
      continue;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  if (keepUpgrade) out.connection = 'Upgrade';
  return out;
}

/** Response headers for the client: hop-by-hop removed. */
export function clientResponseHeaders(rawHeaders: readonly string[]): OutgoingHttpHeaders {
  const listed = new Set<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === 'connection')
      for (const t of (rawHeaders[i + 1] as string).split(',')) listed.add(t.trim().toLowerCase());
  }
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || listed.has(name)) continue;
    const value = rawHeaders[i + 1] as string;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

const SAFE_XFCC = /^[\x20-\x21\x23-\x24\x26-\x5b\x5d-\x7e]*$/;

/**
 * A value for an XFCC element: printable ASCII other than `"` and `\` as is, those two
 * backslash-escaped, everything else percent-encoded as UTF-8. Always safe in a header.
 */
function xfccEscape(value: string): string {
  // Most values (SPIFFE IDs, DNS names, DNs) need no escaping: return them without building a copy.
  if (SAFE_XFCC.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Quoted when it holds a separator (`,` `;` `=` space), as Envoy does. */
function xfccValue(value: string): string {
  const e = xfccEscape(value);
  return /[,;=\s"]/.test(value) ? `"${e}"` : e;
}

export interface ForwardedIdentity {
  /** SHA-256 of the client leaf, hex. */
  readonly fingerprint: string;
  readonly subject: string;
  readonly spiffeId: string | undefined;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly leafDer: Uint8Array;
  readonly intermediatesDer: readonly Uint8Array[];
}

/** Envoy's format: `By=<gateway URI>;Hash=<hex>;Subject="<DN>";URI=<uri>;DNS=<name>…`. */
export function xfccHeader(id: ForwardedIdentity, by: string | undefined): string {
  const parts: string[] = [];
  if (by !== undefined) parts.push(`By=${xfccValue(by)}`);
  parts.push(`Hash=${id.fingerprint}`);
  parts.push(`Subject="${xfccEscape(id.subject)}"`);
  for (const u of id.uris) parts.push(`URI=${xfccValue(u)}`);
  for (const d of id.dnsNames) parts.push(`DNS=${xfccValue(d)}`);
  return parts.join(';');
}

/** RFC 9440: `:<base64 DER>:` (a structured-field byte sequence). */
export function clientCertHeader(der: Uint8Array): string {
  return `:${Buffer.from(der).toString('base64')}:`;
}

export function clientCertChainHeader(ders: readonly Uint8Array[]): string {
  return ders.map(clientCertHeader).join(', ');
}
