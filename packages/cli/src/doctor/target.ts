/** What `mutual doctor` and `mutual curl` connect to: a URL or host:port. */
import { isIP } from 'node:net';

export interface Target {
  readonly host: string;
  readonly port: number;
  /** SNI and the name the server certificate must carry (undefined for IP addresses: no SNI). */
  readonly servername: string | undefined;
  /** Present for https:// targets: doctor then makes an HTTP request too. */
  readonly url: URL | undefined;
  readonly label: string;
}

/** Parses `https://host[:port]/path` or `host:port`; returns an error message for anything else. */
export function parseTarget(text: string): Target | string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return `"${text}" is not a URL`;
    }
    if (url.protocol !== 'https:') return `"${text}": only https:// URLs use TLS`;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? 443 : Number(url.port);
    return { host, port, servername: isIP(host) === 0 ? host : undefined, url, label: url.href };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!m) return `"${text}" is neither an https:// URL nor host:port`;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `port ${m[3] ?? ''} is out of range`;
  return { host, port, servername: isIP(host) === 0 ? host : undefined, url: undefined, label: text };
}
