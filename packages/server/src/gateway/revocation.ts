/**
 * Revocation data for the handshake check: CRLs from files and from URLs polled with ETag. A CRL
 * counts for an issuer only once its signature verifies with that issuer's key; an issuer that must
 * be covered and is not, or whose CRL is past nextUpdate plus the grace, is refused (fail closed)
 * unless it is listed in `failOpen`.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { MutualError, readDerObjects, readFileCapped, type VerifyResult } from '@mutual/sdk';
import type { LoadedGatewayConfig } from '../config/index.js';
import { parseCrl, verifyCrlSignature, type ParsedCrl } from '../pki/index.js';

export interface Revocation {
  /** undefined when the path may be used at `at`; else a reason code and detail. */
  check(
    result: VerifyResult,
    chain: { leaf: Uint8Array; intermediates: readonly Uint8Array[] },
    anchors: readonly Uint8Array[],
    at: Date,
  ): { reason: string; detail: string } | undefined;
  /** Files read (watched for hot reload). */
  files(): string[];
  /** False while a configured source has never loaded. */
  ready(): boolean;
  close(): void;
}

/** Called after each load attempt; `changed` when the source's CRL is new. */
export type RevocationListener = (source: string, ok: boolean, error: string | undefined, changed: boolean) => void;

interface LoadedCrl {
  readonly parsed: ParsedCrl;
  readonly fingerprint: string;
  readonly revoked: ReadonlySet<string>;
}

interface Source {
  readonly name: string;
  readonly kind: 'file' | 'url';
  crl: LoadedCrl | undefined;
  etag: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

const MAX_CRL_BYTES = 32 * 1024 * 1024;
const stripZeros = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, '');

function loadCrl(bytes: Uint8Array): LoadedCrl {
  const der = bytes[0] === 0x30 ? bytes : readDerObjects(bytes, ['X509 CRL', 'CRL'])[0];
  if (der === undefined) throw new MutualError('ERR_CRL_MALFORMED', { details: { reason: 'no CRL in the input' } });
  const parsed = parseCrl(der, { maxBytes: MAX_CRL_BYTES });
  return {
    parsed,
    fingerprint: createHash('sha256').update(der).digest('hex'),
    revoked: new Set(parsed.revoked.map((e) => stripZeros(e.serialHex))),
  };
}

function fetchCrl(
  url: string,
  etag: string | undefined,
  ca: Buffer | undefined,
  timeoutMs: number,
): Promise<{ status: 200; body: Buffer; etag: string | undefined } | { status: 304 }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { accept: 'application/pkix-crl' };
    if (etag !== undefined) headers['if-none-match'] = etag;
    const onResponse = (res: IncomingMessage): void => {
      if (res.statusCode === 304) {
        res.resume();
        resolve({ status: 304 });
        return;
      }
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode ?? 0}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_CRL_BYTES) res.destroy(new Error('CRL too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        const tag = res.headers.etag;
        resolve({ status: 200, body: Buffer.concat(chunks), etag: typeof tag === 'string' ? tag : undefined });
      });
      res.on('error', reject);
    };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, { headers, ...(ca ? { ca } : {}), timeout: timeoutMs }, onResponse)
        : httpRequest(u, { headers, timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Loads every configured source. File sources must load (a bad file refuses the configuration);
 * URL sources are polled and carry their last CRL over from `prev` across reloads.
 */
export async function createRevocation(
  loaded: LoadedGatewayConfig,
  prev: Revocation | undefined,
  onSource: RevocationListener,
): Promise<Revocation> {
  const cfg = loaded.config.revocation;
  const failOpen = new Set(cfg.failOpen);
  const sources: Source[] = [];
  const previous = (prev as { sources?: readonly Source[] } | undefined)?.sources ?? [];
  let closed = false;

  for (const s of cfg.sources) {
    if ('file' in s) {
      const file = loaded.resolve(s.file);
      let crl: LoadedCrl;
      try {
        crl = loadCrl(await readFileCapped(file, MAX_CRL_BYTES));
      } catch (err) {
        throw new MutualError('ERR_GATEWAY_MATERIAL_INVALID', {
          message: `${file}: not a usable CRL (${err instanceof Error ? err.message : String(err)})`,
          details: { file, reason: 'crl' },
          cause: err,
        });
      }
      const old = previous.find((p) => p.name === file);
      sources.push({ name: file, kind: 'file', crl, etag: undefined, timer: undefined });
      onSource(file, true, undefined, old?.crl?.fingerprint !== crl.fingerprint);
    } else {
      const old = previous.find((p) => p.name === s.url);
      sources.push({ name: s.url, kind: 'url', crl: old?.crl, etag: old?.etag, timer: undefined });
    }
  }

  const caOf = async (file: string | undefined): Promise<Buffer | undefined> =>
    file === undefined ? undefined : readFileCapped(loaded.resolve(file), 1024 * 1024);

  const poll = async (source: Source, url: string, ca: Buffer | undefined, interval: number): Promise<void> => {
    try {
      const r = await fetchCrl(url, source.crl ? source.etag : undefined, ca, Math.min(interval, 10_000));
      if (closed) return;
      if (r.status === 304) {
        onSource(url, true, undefined, false);
      } else {
        const crl = loadCrl(r.body);
        const changed = source.crl?.fingerprint !== crl.fingerprint;
        if (source.crl && crl.parsed.crlNumber < source.crl.parsed.crlNumber)
          throw new Error('CRL number went backwards');
        source.crl = crl;
        source.etag = r.etag;
        onSource(url, true, undefined, changed);
      }
    } catch (err) {
      if (!closed) onSource(url, false, err instanceof Error ? err.message : String(err), false);
    }
  };

  const started: Promise<void>[] = [];
  for (const s of cfg.sources) {
    if (!('url' in s)) continue;
    const source = sources.find((x) => x.name === s.url) as Source;
    const ca = await caOf(s.ca);
    const loop = (): void => {
      source.timer = setTimeout(() => {
        void poll(source, s.url, ca, s.interval).finally(() => {
          if (!closed) loop();
        });
      }, s.interval);
      source.timer.unref();
    };
    const first = poll(source, s.url, ca, s.interval).finally(() => {
      if (!closed) loop();
    });
    // A first start waits for the first answer; a reload keeps the carried-over CRL and polls in the background.
    if (!source.crl) started.push(first);
  }
  await Promise.all(started);

  const verified = new Map<string, boolean>();
  const crlsFor = (issuerFp: string, issuerDer: Uint8Array): LoadedCrl[] => {
    const out: LoadedCrl[] = [];
    for (const s of sources) {
      if (!s.crl) continue;
      const key = `${s.crl.fingerprint}>${issuerFp}`;
      let ok = verified.get(key);
      if (ok === undefined) {
        ok = verifyCrlSignature(s.crl.parsed, issuerDer);
        if (verified.size > 4096) verified.clear();
        verified.set(key, ok);
      }
      if (ok) out.push(s.crl);
    }
    return out;
  };

  const revocation: Revocation & { sources: readonly Source[] } = {
    sources,
    check(result, chain, anchors, at) {
      if (sources.length === 0) return undefined;
      const derByFp = new Map<string, Uint8Array>();
      for (const der of [chain.leaf, ...chain.intermediates, ...anchors])
        derByFp.set(createHash('sha256').update(der).digest('hex'), der);
      const path = result.path;
      for (let i = 0; i + 1 < path.length; i++) {
        const cert = path[i];
        const issuer = path[i + 1];
        if (!cert || !issuer) break;
        const issuerDer = derByFp.get(issuer.fingerprint);
        const required = cfg.require === 'all' || i === 0;
        const open = failOpen.has(issuer.subject);
        const crls = issuerDer ? crlsFor(issuer.fingerprint, issuerDer) : [];
        const newest = crls.reduce<LoadedCrl | undefined>(
          (a, c) => (a === undefined || c.parsed.thisUpdate > a.parsed.thisUpdate ? c : a),
          undefined,
        );
        if (!newest) {
          if (required && !open)
            return { reason: 'CRL_MISSING', detail: `no verified CRL from ${issuer.subject} for certificate ${i}` };
          continue;
        }
        if (newest.revoked.has(stripZeros(cert.serial)))
          return { reason: 'REVOKED', detail: `serial ${cert.serial} is revoked by ${issuer.subject}` };
        if (at.getTime() > newest.parsed.nextUpdate.getTime() + cfg.grace && !open)
          return {
            reason: 'CRL_STALE',
            detail: `the CRL of ${issuer.subject} expired at ${newest.parsed.nextUpdate.toISOString()} (grace passed)`,
          };
      }
      return undefined;
    },
    files: () => sources.filter((s) => s.kind === 'file').map((s) => s.name),
    ready: () => sources.every((s) => s.crl !== undefined),
    close: () => {
      closed = true;
      for (const s of sources) if (s.timer) clearTimeout(s.timer);
    },
  };
  return revocation;
}
