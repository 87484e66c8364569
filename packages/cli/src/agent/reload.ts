import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { MutualError } from '@mutual/sdk';
import type { ReloadAction } from './config.js';

/**
 * Runs one reload action after a new pair is in place: signal a process (by PID or PID file), run
 * a command (argv, no shell, with a timeout) or POST to a URL. Throws ERR_AGENT_RELOAD_FAILED.
 */
export async function runReloadAction(action: ReloadAction, resolve: (p: string) => string): Promise<string> {
  try {
    if ('signal' in action) {
      const pid = action.signal.pid ?? Number((await readFile(resolve(action.signal.pidFile ?? ''), 'utf8')).trim());
      if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error('the PID file does not hold a process id');
      process.kill(pid, action.signal.signal);
      return `signal ${action.signal.signal} to ${pid}`;
    }
    if ('command' in action) {
      const [cmd, ...args] = action.command;
      await new Promise<void>((resolveRun, reject) => {
        execFile(cmd ?? '', args, { timeout: action.timeout, maxBuffer: 1024 * 1024 }, (err, _out, stderr) => {
          if (err) reject(new Error(`${err.message.split('\n')[0] ?? ''} ${stderr.slice(0, 500)}`.trim()));
          else resolveRun();
        });
      });
      return `command ${action.command.join(' ')}`;
    }
    const res = await fetch(action.url, { method: 'POST', signal: AbortSignal.timeout(action.timeout) });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return `POST ${action.url}`;
  } catch (err) {
    throw new MutualError('ERR_AGENT_RELOAD_FAILED', {
      message: `The reload action failed: ${err instanceof Error ? err.message : String(err)}`,
      details: { action: describe(action) },
      cause: err,
    });
  }
}

function describe(action: ReloadAction): string {
  if ('signal' in action) return `signal ${action.signal.signal}`;
  if ('command' in action) return `command ${action.command[0] ?? ''}`;
  return `url ${action.url}`;
}
