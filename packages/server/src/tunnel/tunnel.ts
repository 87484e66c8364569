/**
 * The client-side tunnel: accepts plain TCP on a local address and originates mutual TLS to a
 * target for each connection. The server is accepted only when OpenSSL accepts its chain AND
 * mutual's verifier does (purpose server, the expected SPIFFE ID or name); otherwise the local
 * connection is closed before any byte is relayed. Certificate, key and trust bundle are reloaded
 * when their files change (or when self-renewing credentials rotate); a reload that fails keeps
 * the running material.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { checkServerIdentity, connect as tlsConnect, createSecureContext, type TLSSocket } from 'node:tls';
import {
  MutualError,
  createVerifier,
  encodePem,
  isValidDnsName,
  readDerObjects,
  readFileCapped,
  verifyTlsPeer,
  type Credentials,
  type ExpectedName,
  type Verifier,
} from '@mutual/sdk';

export interface TunnelOptions {
  readonly listen: { readonly host: string; readonly port: number };
  readonly target: { readonly host: string; readonly port: number };
  /** PEM: the client certificate followed by its intermediates (unless `credentials` is given). */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** PEM: the anchors the server's chain must lead to (default with `credentials`: the CA's root). */
  readonly caFile?: string;
  /**
   * Instead of certFile/keyFile: a self-renewing client certificate from a mutual CA. Each new
   * connection presents the certificate current at that moment; relayed connections keep theirs.
   */
  readonly credentials?: Credentials;
  /** The server must be an X509-SVID for exactly this SPIFFE ID. */
  readonly expectSpiffeId?: string;
  /** The server certificate must carry this DNS name or IP address. */
  readonly expectName?: string;
  /** SNI sent to the target (default: expectName when it is a DNS name, else none). */
  readonly servername?: string;
  /** Reload certificate, key and trust bundle when their files change (default true). */
  readonly watch?: boolean;
  readonly connectTimeoutMs?: number;
  readonly now?: () => Date;
}

/** One relayed (or refused) local connection. */
export interface TunnelConnectionEvent {
  readonly ok: boolean;
  readonly peer: string;
  /** `verified`, or why the server or the target was refused (the verifier's code, `TLS_NOT_AUTHORIZED`, …). */
  readonly reason: string;
  readonly detail: string;
  /** The server's verified identity. */
  readonly identity: string | null;
}

export interface Tunnel {
  readonly port: number;
  /** 'connection' (TunnelConnectionEvent), 'reload' ({ ok, certificateFingerprint } or { ok, error }). */
  readonly events: EventEmitter;
  reload(): Promise<{ ok: true } | { ok: false; error: MutualError }>;
  close(): Promise<void>;
}

interface Material {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  readonly verifier: Verifier;
  /** SHA-256 (hex) of the client certificate presented. */
  readonly certificateFingerprint: string;
}

async function loadMaterial(o: TunnelOptions): Promise<Material> {
  const read = async (file: string, what: string): Promise<string> => {
    try {
      return (await readFileCapped(file, 1024 * 1024)).toString();
    } catch (err) {
      throw new MutualError('ERR_TUNNEL_MATERIAL_INVALID', {
        message: `${file}: cannot read the ${what}`,
        details: { file, reason: what },
        cause: err,
      });
    }
  };
  const fromCredentials = o.credentials?.current();
  const certPem = fromCredentials?.chainPem ?? (await read(o.certFile ?? '', 'certificate'));
  const keyPem = fromCredentials?.keyPem ?? (await read(o.keyFile ?? '', 'key'));
  const caText =
    o.caFile === undefined && o.credentials !== undefined
      ? o.credentials.rootPem()
      : await read(o.caFile ?? '', 'trust bundle');
  let anchors: Uint8Array[];
  let certificateFingerprint: string;
  try {
    const leaf = readDerObjects(Buffer.from(certPem), ['CERTIFICATE'])[0];
    if (leaf === undefined) throw new Error('no certificate');
    certificateFingerprint = createHash('sha256').update(leaf).digest('hex');
    anchors = readDerObjects(Buffer.from(caText), ['CERTIFICATE']);
    if (anchors.length === 0) throw new Error('no certificate');
    // OpenSSL must accept the pair: a key that does not match its certificate fails here.
    createSecureContext({ cert: certPem, key: keyPem, ca: caText });
  } catch (err) {
    throw new MutualError('ERR_TUNNEL_MATERIAL_INVALID', {
      message: `the certificate, key or trust bundle is unusable (${err instanceof Error ? err.message : String(err)})`,
      details: { file: o.certFile ?? 'credentials', reason: 'material' },
      cause: err,
    });
  }
  const caPem = anchors.map((d) => encodePem(d, 'CERTIFICATE')).join('');
  return { certPem, keyPem, caPem, verifier: createVerifier({ anchors }), certificateFingerprint };
}

const IP_LIKE = /^[\d.]+$|:/;

/** Starts the tunnel; rejects with ERR_TUNNEL_MATERIAL_INVALID or ERR_TUNNEL_LISTEN_FAILED. */
export async function startTunnelServer(options: TunnelOptions): Promise<Tunnel> {
  if (options.expectSpiffeId === undefined && options.expectName === undefined) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Say which server identity to expect (a SPIFFE ID or a name).',
    });
  }
  const fromFiles = options.certFile !== undefined && options.keyFile !== undefined && options.caFile !== undefined;
  if (
    options.credentials === undefined ? !fromFiles : options.certFile !== undefined || options.keyFile !== undefined
  ) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Give the client certificate as certFile, keyFile and caFile, or as credentials from the CA.',
    });
  }
  const now = options.now ?? (() => new Date());
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let material = await loadMaterial(options);
  const expectedNames: ExpectedName[] | undefined = options.expectName === undefined ? undefined : [options.expectName];
  const servername =
    options.servername ??
    (options.expectName !== undefined && !IP_LIKE.test(options.expectName) && isValidDnsName(options.expectName)
      ? options.expectName
      : undefined);
  const sockets = new Set<Socket>();

  const emit = (e: TunnelConnectionEvent): void => {
    events.emit('connection', e);
  };

  function onLocal(local: Socket): void {
    sockets.add(local);
    local.on('close', () => sockets.delete(local));
    local.on('error', () => undefined);
    local.pause();
    const peer = `${local.remoteAddress ?? ''}:${local.remotePort ?? 0}`;
    const m = material;
    const remote: TLSSocket = tlsConnect({
      host: options.target.host,
      port: options.target.port,
      ...(servername === undefined ? {} : { servername }),
      cert: m.certPem,
      key: m.keyPem,
      ca: m.caPem,
      minVersion: 'TLSv1.2',
      // Both verdicts are taken after the handshake, before any byte is relayed.
      rejectUnauthorized: false,
      // The identity is the expected SPIFFE ID or name (checked below), not the target's address:
      // OpenSSL's verdict here is about the chain only.
      checkServerIdentity: () => undefined,
      timeout: options.connectTimeoutMs ?? 10_000,
    });
    sockets.add(remote);
    remote.on('close', () => {
      sockets.delete(remote);
      local.destroy();
    });
    local.on('close', () => remote.destroy());
    remote.on('timeout', () => remote.destroy(new Error('timed out')));
    let settled = false;
    remote.on('error', (err: NodeJS.ErrnoException) => {
      if (!settled) {
        settled = true;
        emit({
          ok: false,
          peer,
          reason: err.code === 'ECONNREFUSED' ? 'TARGET_UNREACHABLE' : 'TLS_HANDSHAKE_FAILED',
          detail: err.code ?? err.message,
          identity: null,
        });
      }
      local.destroy();
    });
    remote.once('secureConnect', () => {
      settled = true;
      const result = verifyTlsPeer(m.verifier, remote, {
        at: now(),
        purpose: 'server',
        ...(options.expectSpiffeId === undefined ? {} : { expectedSpiffeId: options.expectSpiffeId }),
        ...(expectedNames === undefined ? {} : { expectedNames }),
      });
      let refusal: { reason: string; detail: string } | undefined;
      if (!result.ok) {
        const first = result.reasons[0];
        refusal = { reason: first?.code ?? 'REFUSED', detail: first?.message ?? 'refused' };
      } else if (options.expectName !== undefined && !IP_LIKE.test(options.expectName)) {
        // OpenSSL's side of the name check, on the same certificate.
        const bad = checkServerIdentity(options.expectName, remote.getPeerCertificate());
        if (bad) refusal = { reason: 'NAME_MISMATCH', detail: bad.message };
      }
      if (refusal) {
        emit({ ok: false, peer, ...refusal, identity: result.identity?.value ?? null });
        remote.destroy();
        local.destroy();
        return;
      }
      emit({ ok: true, peer, reason: 'verified', detail: '', identity: result.identity?.value ?? null });
      remote.setNoDelay(true);
      local.pipe(remote);
      remote.pipe(local);
      local.resume();
    });
  }

  const server: Server = createNetServer(onLocal);
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err) => {
      reject(
        new MutualError('ERR_TUNNEL_LISTEN_FAILED', {
          details: { host: options.listen.host, port: options.listen.port },
          cause: err,
        }),
      );
    });
    server.listen(options.listen.port, options.listen.host, () => {
      resolve((server.address() as AddressInfo).port);
    });
  });

  let chain: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<{ ok: true } | { ok: false; error: MutualError }> => {
    const run = chain.then(async () => {
      try {
        material = await loadMaterial(options);
        events.emit('reload', { ok: true, certificateFingerprint: material.certificateFingerprint });
        return { ok: true as const };
      } catch (err) {
        const error = err instanceof MutualError ? err : new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: err });
        const r = { ok: false as const, error };
        events.emit('reload', r);
        return r;
      }
    });
    chain = run;
    return run;
  };

  // Watch the directories (files are usually replaced by rename); one reload per burst of changes.
  const watchers: FSWatcher[] = [];
  const onRotated = (): void => {
    void reload();
  };
  options.credentials?.on('rotated', onRotated);
  const watched = [options.certFile, options.keyFile, options.caFile].filter((f) => f !== undefined);
  if (options.watch !== false && watched.length > 0) {
    const files = watched.map((f) => path.resolve(f));
    const dirs = new Set(files.map((f) => path.dirname(f)));
    const names = new Set(files.map((f) => path.basename(f)));
    let scheduled = false;
    for (const dir of dirs) {
      const w = watch(dir, (_type, name) => {
        if (name !== null && !names.has(name)) return;
        if (scheduled) return;
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          void reload();
        });
      });
      w.on('error', () => undefined);
      watchers.push(w);
    }
  }

  return {
    port,
    events,
    reload,
    close: () =>
      new Promise<void>((resolve) => {
        for (const w of watchers) w.close();
        options.credentials?.off('rotated', onRotated);
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
