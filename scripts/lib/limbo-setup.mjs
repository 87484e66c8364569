// Shared setup of the x509-limbo scripts (conformance.mjs, conformance-gate.mjs): where the suite
// and the harness are, installing the harness, building the sdk, and the verifier command.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Resolves the suite and harness beside the repository; exits 2 when they are missing. */
export function limboPaths(limboOption) {
  const shared = path.resolve(repoRoot, '../shared/conformance');
  const limbo = path.resolve(limboOption ?? path.join(shared, 'limbo-dev.json'));
  const harnessDir = path.join(shared, 'harness');
  if (!existsSync(limbo) || !existsSync(path.join(harnessDir, 'limbo-harness.mjs'))) {
    console.error(`conformance data not found (${limbo}); the shared folder must sit beside the repository`);
    process.exit(2);
  }
  return { shared, limbo, harnessDir };
}

export function run(cmd, args, cwd = repoRoot) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    process.exit(2);
  }
}

/** Installs the harness's dependencies once and (unless noBuild) builds the sdk. */
export function prepare(harnessDir, noBuild) {
  if (!existsSync(path.join(harnessDir, 'node_modules'))) run('npm', ['ci', '--no-audit', '--no-fund'], harnessDir);
  if (!noBuild) run('npx', ['tsc', '-b', 'packages/sdk']);
}

export const sdkSnapshot = path.join(repoRoot, '.tmp', 'conformance', 'sdk-dist');

/** The product command when the CLI is built and answers; else the sdk runner with the same answers. */
export function verifierCommand() {
  const probe = JSON.stringify({ id: 'probe', features: [], validation_kind: 'SERVER', trusted_certs: [] });
  const cli = spawnSync('node', ['packages/cli/dist/bin.js', 'verify', '--limbo-case', '-'], {
    cwd: repoRoot,
    input: probe,
    encoding: 'utf8',
  });
  if (/^(ACCEPT|REJECT|SKIP)\b/.test(cli.stdout ?? '')) return 'node packages/cli/dist/bin.js verify --limbo-case -';
  mkdirSync(path.dirname(sdkSnapshot), { recursive: true });
  // A snapshot of the built sdk, so a rebuild by someone else mid-run cannot break cases.
  rmSync(sdkSnapshot, { recursive: true, force: true });
  cpSync(path.join(repoRoot, 'packages/sdk/dist'), sdkSnapshot, { recursive: true });
  console.error(
    'note: the CLI is not built or does not answer; measuring through scripts/limbo-case.mjs (same verifier)',
  );
  return `node scripts/limbo-case.mjs ${path.relative(repoRoot, sdkSnapshot)}`;
}
