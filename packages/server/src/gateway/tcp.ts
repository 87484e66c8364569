/**
 * TCP mode: an admitted connection's bytes are relayed to a fixed host:port, optionally after a
 * PROXY protocol v2 header that carries the client's address and its verified identity.
 *
 * Header layout (all lengths big-endian):
 *   12-byte signature, 0x21 (version 2, PROXY), family 0x11 (TCP/IPv4) | 0x21 (TCP/IPv6) | 0x00,
 *   length, source address, destination address, source port, destination port, then TLVs:
 *   - 0x20 PP2_TYPE_SSL: client flags (0x01 SSL | 0x02 CERT_CONN), verify = 0 (the gateway verified
 *     the chain), then sub-TLVs 0x21 version ("TLSv1.3"), 0x22 CN of the client's subject, 0x23 cipher.
 *   - 0xE0 mutual identity: the verified SPIFFE ID or DNS identity, UTF-8.
 *   - 0xE1 mutual subject: the client certificate's subject as `mutual verify` prints it, UTF-8.
 *   - 0xE2 mutual fingerprint: SHA-256 of the client certificate's DER, 32 bytes.
 */
import { isIPv4, isIPv6, connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
export const PP2_TYPE = {
  SSL: 0x20,
  SSL_VERSION: 0x21,
  SSL_CN: 0x22,
  SSL_CIPHER: 0x23,
  MUTUAL_IDENTITY: 0xe0,
  MUTUAL_SUBJECT: 0xe1,
  MUTUAL_FINGERPRINT: 0xe2,
} as const;
const PP2_CLIENT_SSL = 0x01;
const PP2_CLIENT_CERT_CONN = 0x02;

export interface ProxyIdentity {
  readonly identity: string | undefined;
  readonly subject: string;
  readonly commonName: string | undefined;
  readonly fingerprintHex: string;
  readonly tlsVersion: string | undefined;
  readonly cipher: string | undefined;
}

function tlv(type: number, value: Buffer): Buffer {
  if (value.length > 0xffff) throw new RangeError('TLV value too long');
  const head = Buffer.alloc(3);
  head.writeUInt8(type, 0);
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

function ipBytes(address: string): Buffer | undefined {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address)) return undefined;
  const [head = '', tail = ''] = address.split('::');
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const groups = part.split(':');
    const last = groups[groups.length - 1] ?? '';
    if (isIPv4(last)) {
      const v4 = last.split('.').map(Number);
      groups.splice(
        -1,
        1,
        (((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16),
        (((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16),
      );
    }
    return groups.map((g) => parseInt(g, 16));
  };
  const h = parse(head);
  const t = address.includes('::') ? parse(tail) : [];
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

const unmap = (a: string): string => (a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a);

/** The PROXY v2 header for a relayed connection (addresses as the gateway saw them). */
export function proxyV2Header(
  source: { address: string; port: number },
  destination: { address: string; port: number },
  id: ProxyIdentity,
): Buffer {
  const src = ipBytes(unmap(source.address));
  const dst = ipBytes(unmap(destination.address));
  let family = 0x00;
  let addresses = Buffer.alloc(0);
  if (src && dst && src.length === dst.length) {
    family = src.length === 4 ? 0x11 : 0x21;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(source.port, 0);
    ports.writeUInt16BE(destination.port, 2);
    addresses = Buffer.concat([src, dst, ports]);
  }
  const sub: Buffer[] = [];
  if (id.tlsVersion) sub.push(tlv(PP2_TYPE.SSL_VERSION, Buffer.from(id.tlsVersion, 'utf8')));
  if (id.commonName !== undefined) sub.push(tlv(PP2_TYPE.SSL_CN, Buffer.from(id.commonName, 'utf8')));
  if (id.cipher) sub.push(tlv(PP2_TYPE.SSL_CIPHER, Buffer.from(id.cipher, 'utf8')));
  const sslHead = Buffer.alloc(5);
  sslHead.writeUInt8(PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, 0);
  sslHead.writeUInt32BE(0, 1); // 0: the client certificate was verified
  const tlvs = [tlv(PP2_TYPE.SSL, Buffer.concat([sslHead, ...sub]))];
  if (id.identity !== undefined) tlvs.push(tlv(PP2_TYPE.MUTUAL_IDENTITY, Buffer.from(id.identity, 'utf8')));
  tlvs.push(tlv(PP2_TYPE.MUTUAL_SUBJECT, Buffer.from(id.subject, 'utf8')));
  tlvs.push(tlv(PP2_TYPE.MUTUAL_FINGERPRINT, Buffer.from(id.fingerprintHex, 'hex')));
  const body = Buffer.concat([addresses, ...tlvs]);
  const head = Buffer.alloc(4);
  head.writeUInt8(0x21, 0);
  head.writeUInt8(family, 1);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, head, body]);
}

/** `CN=…` out of a subject as mutual prints it (`O=x, CN=y`). */
export function commonNameOf(subject: string): string | undefined {
  for (const part of subject.split(/,\s*/)) if (part.startsWith('CN=')) return part.slice(3);
  return undefined;
}

export function splitHostPort(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(i + 1)) };
}

export type RelayOutcome = { ok: true } | { ok: false; reason: string };

/**
 * Connects to the upstream, writes `preface` (the PROXY header, if any) and relays bytes both ways;
 * an end of stream (half-close) is passed on to the other side, and once either socket is fully
 * closed or fails, both are closed. `onConnected` reports whether the upstream answered.
 */
export function relay(
  client: TLSSocket,
  upstream: { host: string; port: number },
  preface: Buffer | undefined,
  connectTimeoutMs: number,
  onConnected: (outcome: RelayOutcome) => void,
): Socket {
  // Half-close passes through once the relay runs (not before the handshake, where an end of
  // stream must close the connection): a client that ends its side still gets the answer.
  client.allowHalfOpen = true;
  const up = netConnect({ host: upstream.host, port: upstream.port, allowHalfOpen: true });
  let connected = false;
  const timer = setTimeout(() => up.destroy(new Error('connect timeout')), connectTimeoutMs);
  timer.unref();
  up.setNoDelay(true);
  up.once('connect', () => {
    clearTimeout(timer);
    connected = true;
    onConnected({ ok: true });
    if (preface) up.write(preface);
    client.pipe(up);
    up.pipe(client);
  });
  up.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    if (!connected)
      onConnected({
        ok: false,
        reason: `upstream-${err.code === 'ECONNREFUSED' ? 'refused' : err.message === 'connect timeout' ? 'timeout' : 'error'}`,
      });
    client.destroy();
  });
  up.on('close', () => {
    clearTimeout(timer);
    client.destroy();
  });
  client.on('error', () => up.destroy());
  client.on('close', () => up.destroy());
  return up;
}
