/**
 * Hot reload on file change: watches the directories of every file the running configuration
 * reads (files are usually replaced by rename, which a watch on the file itself would miss) and
 * reloads once per burst of changes; a reload that fails keeps the running state.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Gateway } from './gateway.js';

export interface GatewayWatcher {
  close(): void;
}

export function watchGateway(gateway: Gateway): GatewayWatcher {
  const watchers = new Map<string, FSWatcher>();
  let wanted = new Map<string, Set<string>>();
  let running = false;
  let pending = false;
  let closed = false;

  const trigger = (): void => {
    if (closed) return;
    if (running) {
      pending = true;
      return;
    }
    running = true;
    // Let the rest of a burst (certificate then key) land before reading.
    setImmediate(() => {
      void gateway.reload().finally(() => {
        running = false;
        refresh();
        if (pending) {
          pending = false;
          trigger();
        }
      });
    });
  };

  function refresh(): void {
    if (closed) return;
    wanted = new Map();
    for (const f of gateway.files()) {
      const dir = path.dirname(f);
      const set = wanted.get(dir) ?? new Set<string>();
      set.add(path.basename(f));
      wanted.set(dir, set);
    }
    for (const [dir, w] of watchers) {
      if (!wanted.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of wanted.keys()) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          const names = wanted.get(dir);
          if (names && (name === null || names.has(name))) trigger();
        });
        w.on('error', () => {
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch {
        // A directory that vanished is watched again after the next successful reload.
      }
    }
  }

  refresh();
  return {
    close: () => {
      closed = true;
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
