import type { LoadedGatewayConfig } from '../config/index.js';
import { loadListenerMaterial } from './material.js';
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
  }[];
  readonly upstreams: readonly string[];
}

/** Loads every file a validated configuration names and compiles its rules, without listening. */
export async function checkGatewayConfig(loaded: LoadedGatewayConfig): Promise<GatewayCheckReport> {
  const listeners = [];
  for (const l of loaded.config.listeners) {
    const material = await loadListenerMaterial(loaded, l);
    compilePolicy(l.routes);
    listeners.push({
      name: l.name,
      address: `${l.listen.host}:${l.listen.port}`,
      routes: l.routes.length,
      anchors: material.anchors.length,
      serverNotAfter: material.serverNotAfter.toISOString(),
      anonymousRoutes: l.routes.filter((r) => r.anonymous).map((r) => r.name),
      emptyAllowRoutes: l.routes.filter((r) => !r.anonymous && r.allow.length === 0).map((r) => r.name),
    });
  }
  return { listeners, upstreams: Object.keys(loaded.config.upstreams) };
}
