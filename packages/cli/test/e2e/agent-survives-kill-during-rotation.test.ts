import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { X509Certificate, createPublicKey, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, mutual, tempDir, waitExit } from '../support.js';
import { bootstrapAndToken, pairMatches, serialOf, startCa } from '../agent-support.js';

// SIGKILL a process in the middle of rotating a certificate and key (the agent's pair writer,
// `writeCredentialPair`, in a loop) at random points, many times; after each kill the configured
// paths must give a complete pair — the old one or the new one — that parses and matches, and no
// key file anywhere may ever have had group or other permissions.

const SDK_FILES = fileURLToPath(new URL('../../../sdk/dist/files/index.js', import.meta.url));
const KILLS = 120;
const work = tempDir('mutual-agent-kill-');
const pairs: Array<{ cert: string; key: string; spki: string }> = [];

const driver = `
import { readFileSync } from 'node:fs';
import { writeCredentialPair } from ${JSON.stringify(SDK_FILES)};
const [dir, pairsFile] = process.argv.slice(2);
const pairs = JSON.parse(readFileSync(pairsFile, 'utf8'));
const paths = { cert: dir + '/tls.crt', key: dir + '/tls.key', chain: dir + '/chain.pem' };
let i = Math.floor(Math.random() * pairs.length);
process.stdout.write('ready\\n');
for (;;) {
  const p = pairs[i % pairs.length];
  await writeCredentialPair(paths, { certPem: p.cert, keyPem: p.key, chainPem: '', version: 'r' + i + '-' + process.pid });
  process.stdout.write('rotated ' + i + '\\n');
  i++;
}
`;

beforeAll(async () => {
  x509.cryptoProvider.set(webcrypto as never);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  for (let i = 0; i < 4; i++) {
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: `0${i + 1}`,
      name: `CN=pair ${i}`,
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2040-01-01T00:00:00Z'),
      keys,
      signingAlgorithm: alg,
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
    const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END PRIVATE KEY-----\n`;
    const certPem = cert.toString('pem') + '\n';
    pairs.push({ cert: certPem, key: keyPem, spki: spkiOf(certPem) });
  }
  writeFileSync(path.join(work, 'pairs.json'), JSON.stringify(pairs));
  writeFileSync(path.join(work, 'driver.mjs'), driver);
});

function spkiOf(certPem: string): string {
  return new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
}

/** Every key file under `dir` (configured path, versions, temp directories left by a kill). */
function keyFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && (e.name === 'key.pem' || e.name.endsWith('.key'))) out.push(full);
    }
  };
  walk(dir);
  return out;
}

/** Starts the driver, kills it with SIGKILL after `delayMs` of rotating; returns how many rotations completed. */
function rotateAndKill(dir: string, delayMs: number, waitForRotation = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(work, 'driver.mjs'), dir, path.join(work, 'pairs.json')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (timer === undefined && out.includes(waitForRotation ? 'rotated' : 'ready\n')) {
        timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    void waitExit(child).then(() => {
      if (child.signalCode !== 'SIGKILL') reject(new Error(`driver exited by itself: ${err}`));
      else resolve((out.match(/rotated/g) ?? []).length);
    });
  });
}

describe('a rotation killed at random points', () => {
  it(`leaves the old pair or the new pair, matching, with keys 0600 (${KILLS} kills)`, async () => {
    let dir = '';
    let rotations = 0;
    let conversions = 0;
    const seen = new Set<string>();
    for (let k = 0; k < KILLS; k++) {
      if (k % 20 === 0) {
        // A fresh directory holding plain files: the first rotation converts them in place.
        dir = path.join(work, `d${k}`);
        mkdirSync(dir);
        const p = pairs[k % pairs.length]!;
        writeFileSync(path.join(dir, 'tls.crt'), p.cert);
        writeFileSync(path.join(dir, 'tls.key'), p.key, { mode: 0o600 });
        conversions++;
      }
      // Random points: anywhere from before the first write to many rotations in.
      rotations += await rotateAndKill(dir, Math.floor(Math.random() * 100));

      const certPem = readFileSync(path.join(dir, 'tls.crt'), 'utf8');
      const keyPem = readFileSync(path.join(dir, 'tls.key'), 'utf8');
      const spki = spkiOf(certPem); // parses
      expect(pairs.map((p) => p.spki)).toContain(spki); // one of the complete pairs, never a torn file
      expect(createPublicKey(keyPem).export({ type: 'spki', format: 'der' }).toString('hex')).toBe(spki); // matches
      expect(statSync(path.join(dir, 'tls.key')).mode & 0o077).toBe(0);
      for (const f of keyFiles(dir)) expect(statSync(f).mode & 0o077, f).toBe(0);
      seen.add(spki);
    }
    // The kills did land in the middle of real work: rotations happened and different pairs were seen.
    expect(rotations).toBeGreaterThan(10);
    expect(seen.size).toBeGreaterThan(1);
    expect(conversions).toBe(KILLS / 20);
    console.log(`kills: ${KILLS}, rotations completed between kills: ${rotations}`);
    // Nothing is left half-done after one more clean rotation.
    const last = await rotateAndKill(dir, 0, true);
    expect(last).toBeGreaterThan(0);
    const store = path.join(dir, '.mutual-tls.crt');
    expect(existsSync(path.join(store, 'current'))).toBe(true);
  }, 240_000);
});

describe('the agent itself killed during renewals against a real CA', () => {
  it('leaves a matching pair after every SIGKILL, and the next run carries on', async () => {
    const dir = path.join(work, 'real');
    const caDir = path.join(dir, 'ca');
    mkdirSync(path.join(dir, 'out'), { recursive: true });
    expect((await mutual(['ca', 'init', '--dir', caDir])).code).toBe(0);
    const ca = await startCa(caDir);
    try {
      await bootstrapAndToken(caDir, ca.url, ca.fingerprint, path.join(dir, 'ctx'), path.join(dir, 'token'), [
        'kill.internal',
      ]);
      const config = path.join(dir, 'agent.yaml');
      writeFileSync(
        config,
        [
          'version: 1',
          `ca: { url: "${ca.url}", rootFile: ca/root.crt }`,
          'report: { enabled: false }',
          'certificates:',
          '  - { name: k, cert: out/tls.crt, key: out/tls.key, names: { dns: [kill.internal] }, token: { file: token }, lifetime: 1h }',
          '',
        ].join('\n'),
      );
      const cert = path.join(dir, 'out', 'tls.crt');
      const key = path.join(dir, 'out', 'tls.key');
      const t0 = Date.now();
      expect((await mutual(['agent', '--config', config, '--once'])).code).toBe(0);
      // Kill points spread over a whole run (start-up, key generation, the CA call, the write, the exit).
      let runMs = Date.now() - t0;
      const serials = new Set([serialOf(cert)]);
      let killed = 0;
      let finished = 0;
      for (let i = 0; i < 20; i++) {
        // Without its state the agent judges the certificate by its own validity; 45 minutes ahead, it is due.
        rmSync(path.join(dir, 'agent.state.json'), { force: true });
        const child = spawn(process.execPath, [BIN, 'agent', '--config', config, '--once', '--clock-offset', '45m'], {
          stdio: 'ignore',
        });
        const started = Date.now();
        const timer = setTimeout(() => child.kill('SIGKILL'), Math.floor(runMs * (0.5 + Math.random() * 0.9)));
        await waitExit(child);
        clearTimeout(timer);
        if (child.signalCode === 'SIGKILL') killed++;
        else {
          finished++;
          runMs = Date.now() - started; // follow the machine's current pace
        }
        expect(pairMatches(cert, key)).toBe(true);
        expect(statSync(key).mode & 0o077).toBe(0);
        for (const f of keyFiles(path.join(dir, 'out'))) expect(statSync(f).mode & 0o077, f).toBe(0);
        serials.add(serialOf(cert));
      }
      console.log(`real agent: ${killed} killed, ${finished} finished, ${serials.size} distinct certificates on disk`);
      expect(killed).toBeGreaterThan(0);
      expect(serials.size).toBeGreaterThan(1);
    } finally {
      await ca.stop();
    }
  }, 240_000);
});
