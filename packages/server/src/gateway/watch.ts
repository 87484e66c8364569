/**
 * Hot reload on file change: watches the directories of every file the running configuration
 * reads (files are usually replaced by rename, which a watch on the file itself would miss) and
 * reloads once per burst of changes; a reload that fails keeps the running state. A path that is
 * a symlink is followed, so a swap of a link further down (the agent's `current` link of a
 * credential pair) is seen too.
 */
import { lstatSync, readlinkSync, watch, type FSWatcher } from 'node:fs';
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
      for (const [dir, name] of watchPoints(f)) {
        const set = wanted.get(dir) ?? new Set<string>();
        set.add(name);
        wanted.set(dir, set);
      }
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

/**
 * The (directory, entry) pairs whose change can change what `file` reads: the file itself, and
 * every symlink met while resolving it (each path component, each hop), up to 16 hops.
 */
export function watchPoints(file: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const seen = new Set<string>();
  const pending = [path.resolve(file)];
  let hops = 0;
  while (pending.length > 0 && hops < 16) {
    const p = pending.pop() ?? '';
    if (seen.has(p)) continue;
    seen.add(p);
    out.push([path.dirname(p), path.basename(p)]);
    // Any symlink among the components of p (the last one included) is a further point to watch.
    const parts = p.split(path.sep);
    for (let i = 2; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join(path.sep) || path.sep;
      let target: string;
      try {
        if (!lstatSync(prefix).isSymbolicLink()) continue;
        target = readlinkSync(prefix);
      } catch {
        break;
      }
      hops++;
      if (!seen.has(prefix)) out.push([path.dirname(prefix), path.basename(prefix)]);
      seen.add(prefix);
      pending.push(path.resolve(path.dirname(prefix), target, ...parts.slice(i)));
      break;
    }
  }
  return out;
}
