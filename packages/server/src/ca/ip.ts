/** CIDR ranges for the name policy (ca never imports node:net); addresses are parsed by pki. */
import { parseIp } from '../pki/index.js';

export { parseIp };

export interface Cidr {
  readonly text: string;
  readonly network: Uint8Array;
  readonly prefix: number;
}

/** Parses `10.0.0.0/8`, `::1/128` or a bare address (a /32 or /128). Host bits must be zero. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, extra] = text.split('/');
  if (addr === undefined || extra !== undefined) return undefined;
  const network = parseIp(addr);
  if (!network) return undefined;
  const max = network.length * 8;
  if (len !== undefined && !/^(0|[1-9]\d{0,2})$/.test(len)) return undefined;
  const prefix = len === undefined ? max : Number(len);
  if (prefix > max) return undefined;
  for (let bit = prefix; bit < max; bit++) {
    if (((network[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return undefined;
  }
  return { text, network, prefix };
}

export function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
  if (ip.length !== cidr.network.length) return false;
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 1 << (7 - (bit & 7));
    if (((ip[bit >> 3] ?? 0) & mask) !== ((cidr.network[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}
