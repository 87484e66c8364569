/**
 * Shared by the doctor and curl e2e tests: test PKI written to files (made in code, nothing committed),
 * `openssl s_server` started with a chosen defect, and `mutual doctor --json` run as a user would.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  createTestCa,
  type TestCa,
  type TestCertificate,
  type TestLeafOptions,
} from '../../server/src/pki/test-support.js';
import { freePort, mutual, startUntil, tempDir, waitExit } from './support.js';

export interface Files {
  readonly cert: string;
  readonly key: string;
}

export interface DoctorJson {
  ok: boolean;
  steps: { name: string; status: string; detail: string }[];
  findings: { id: string; severity: string; side: string; summary: string; explanation: string; fix: string }[];
  handshake: {
    protocol?: string;
    acceptableCaNames: string[];
    certificateRequested?: boolean;
    clientIdentity?: string;
  };
  http?: { status: number };
}

export interface TestPki {
  readonly dir: string;
  readonly ca: TestCa;
  /** The root, as a trust bundle file. */
  readonly root: string;
  /** Writes a leaf + intermediate chain and its key; `chain: false` writes the leaf alone. */
  write(name: string, opts: TestLeafOptions, chain?: boolean): Files & { leaf: TestCertificate };
}

export function makeTestPki(now = new Date(), organization = 'doctor test', dir = tempDir('mutual-doctor-')): TestPki {
  const ca = createTestCa({ now, organization });
  const root = path.join(dir, `${organization.replace(/\W+/g, '-')}-root.pem`);
  writeFileSync(root, `${ca.root.pem}\n`);
  return {
    dir,
    ca,
    root,
    write(name, opts, chain = true) {
      const leaf = ca.issue(opts);
      const cert = path.join(dir, `${name}.crt`);
      const key = path.join(dir, `${name}.key`);
      writeFileSync(cert, chain ? `${leaf.pem}\n${ca.intermediate.pem}\n` : `${leaf.pem}\n`);
      writeFileSync(key, leaf.keyPem ?? '', { mode: 0o600 });
      return { cert, key, leaf };
    },
  };
}

export const SERVER: TestLeafOptions = { profile: 'server', names: { dns: ['localhost'], ip: ['127.0.0.1'] } };
export const CLIENT_ID = 'spiffe://doctor.test/ns/prod/sa/api';
export const CLIENT: TestLeafOptions = { profile: 'client', names: { uri: [CLIENT_ID] } };

export interface SServer {
  readonly port: number;
  readonly child: ChildProcess;
  readonly stop: () => Promise<void>;
}

/**
 * `openssl s_server -www` on a free port with the given certificate and extra flags; resolves on ACCEPT.
 * It sends the intermediates of `server.cert` too unless `sendChain` is false.
 */
export async function sServer(server: Files, extra: readonly string[], sendChain = true): Promise<SServer> {
  const port = await freePort();
  const { child } = await startUntil(
    'openssl',
    [
      's_server',
      '-accept',
      String(port),
      '-4',
      '-www',
      '-cert',
      server.cert,
      '-key',
      server.key,
      ...(sendChain ? ['-cert_chain', server.cert] : []),
      ...extra,
    ],
    /ACCEPT/,
  );
  return {
    port,
    child,
    stop: async () => {
      child.kill('SIGKILL');
      await waitExit(child);
    },
  };
}

export async function doctor(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number; report: DoctorJson; stderr: string }> {
  const r = await mutual(['doctor', ...args, '--json'], {
    env: { MUTUAL_CONTEXT_DIR: tempDir('mutual-ctx-'), ...env },
  });
  let report: DoctorJson;
  try {
    report = JSON.parse(r.stdout) as DoctorJson;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

export const ids = (r: DoctorJson): string[] => r.findings.map((f) => f.id);
