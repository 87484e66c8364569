// A throwaway SoftHSM token for tests: its own configuration file and token directory in a temp
// folder, initialised with softhsm2-util. Never skipped: a missing binary is a failure that says
// what to install.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface TestToken {
  readonly dir: string;
  /** The SOFTHSM2_CONF value: set it in the environment of whoever loads the module. */
  readonly conf: string;
  readonly module: string;
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
  /** Another token in the same directory. */
  addToken(label: string): void;
}

/** A SoftHSM token directory with one initialised token. */
export function createSoftHsmToken(label = 'mutual-test', pin = '123456'): TestToken {
  const dir = mkdtempSync(path.join(tmpdir(), 'mutual-softhsm-'));
  const tokens = path.join(dir, 'tokens');
  execFileSync('mkdir', ['-p', tokens]);
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const soPin = '87654321';
  const addToken = (l: string): void => {
    try {
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', l, '--pin', pin, '--so-pin', soPin], {
        env: { ...process.env, SOFTHSM2_CONF: conf },
        stdio: 'pipe',
      });
    } catch (err) {
      throw new Error(`softhsm2-util failed (install the softhsm2 package): ${(err as Error).message}`);
    }
  };
  addToken(label);
  return { dir, conf, module: SOFTHSM_MODULE, label, pin, soPin, addToken };
}
