import { MutualError, readDerObjects, readFileCapped } from '@mutual/sdk';
import type { GatewayListenerConfig, LoadedGatewayConfig } from '../config/index.js';
import { loadListenerMaterial, loadListenerTrust } from './material.js';
import { compilePolicy } from './policy.js';

export interface GatewayCheckReport {
  readonly listeners: readonly {
    readonly name: string;
    readonly address: string;
    readonly routes: number;
    readonly anchors: number;
    readonly serverNotAfter: string;
    readonly anonymousRoutes: readonly string[];
    readonly emptyAllowRoutes: readonly string[];
    /** Pins whose `until` has passed (`listener` or `route <name>`, the pin's position and end). */
    readonly endedPins: readonly string[];
  }[];
  readonly upstreams: readonly string[];
}

/** Loads every file a validated configuration names and compiles its rules, without listening. */
export async function checkGatewayConfig(
  loaded: LoadedGatewayConfig,
  now: Date = new Date(),
): Promise<GatewayCheckReport> {
  const listeners = [];
  const ended = (where: string, pins: readonly { until?: number | undefined }[]): string[] =>
    pins.flatMap((p, i) =>
      p.until !== undefined && p.until <= now.getTime()
        ? [`${where} pin ${String(i + 1)} ended ${new Date(p.until).toISOString()}`]
        : [],
    );
  for (const l of loaded.config.listeners) {
    const material =
      'fromCa' in l.tls
        ? { ...(await loadListenerTrust(loaded, l)), serverNotAfter: await checkFromCa(loaded, l) }
        : await loadListenerMaterial(loaded, l);
    compilePolicy(l.routes);
    listeners.push({
      name: l.name,
      address: `${l.listen.host}:${l.listen.port}`,
      routes: l.routes.length,
      anchors: material.anchors.length,
      serverNotAfter:
        typeof material.serverNotAfter === 'string' ? material.serverNotAfter : material.serverNotAfter.toISOString(),
      anonymousRoutes: l.routes.filter((r) => r.anonymous).map((r) => r.name),
      emptyAllowRoutes: l.routes.filter((r) => !r.anonymous && r.allow.length === 0).map((r) => r.name),
      endedPins: [
        ...ended('listener', l.clientAuth.pins),
        ...l.routes.flatMap((r) => ended(`route ${r.name}`, r.pins)),
      ],
    });
  }
  return { listeners, upstreams: Object.keys(loaded.config.upstreams) };
}

/**
 * A `tls.fromCa` listener has no certificate before it runs (the token is used once, so a check
 * never enrolls): its root file must hold a certificate and its token file must be readable.
 */
async function checkFromCa(loaded: LoadedGatewayConfig, l: GatewayListenerConfig): Promise<string> {
  if (!('fromCa' in l.tls)) return '';
  const f = l.tls.fromCa;
  const fail = (file: string, reason: string, cause?: unknown): MutualError =>
    new MutualError('ERR_GATEWAY_MATERIAL_INVALID', {
      message: `${file}: ${reason}`,
      details: { file, reason },
      ...(cause === undefined ? {} : { cause }),
    });
  if (f.rootFile !== undefined) {
    const file = loaded.resolve(f.rootFile);
    let roots: Uint8Array[];
    try {
      roots = readDerObjects(await readFileCapped(file, 1024 * 1024), ['CERTIFICATE']);
    } catch (err) {
      throw fail(file, 'cannot read the CA root', err);
    }
    if (roots.length === 0) throw fail(file, 'holds no certificate');
  }
  const tokenFile = loaded.resolve(f.tokenFile);
  try {
    await readFileCapped(tokenFile, 16 * 1024);
  } catch (err) {
    throw fail(tokenFile, 'cannot read the enrollment token', err);
  }
  return `from the CA at ${f.url}`;
}
