#!/usr/bin/env node
// CI gate for mutual's verifier on x509-limbo: runs the conformance harness on a sample
// (--every 20 of ../shared/conformance/limbo-dev.json) against `mutual verify --limbo-case -`
// and exits 1 on any false accept (ACCEPT where the case expects FAILURE) and on any
// ERROR or TIMEOUT. Prints its counts. Options: --every N, --jobs N, --limbo FILE, --no-build.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { limboPaths, prepare, repoRoot, run, verifierCommand } from './lib/limbo-setup.mjs';

const { values: opt } = parseArgs({
  options: {
    every: { type: 'string', default: '20' },
    jobs: { type: 'string', default: '2' },
    limbo: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
});
const { limbo, harnessDir } = limboPaths(opt.limbo);
prepare(harnessDir, opt['no-build']);

const command = verifierCommand();
const outDir = path.join(repoRoot, '.tmp', 'conformance');
mkdirSync(outDir, { recursive: true });
const out = path.join(outDir, 'gate-results.json');
run('node', [
  path.join(harnessDir, 'limbo-harness.mjs'),
  '--limbo',
  limbo,
  '--verifier',
  `cmd:mutual=${command}`,
  '--every',
  opt.every,
  '--jobs',
  opt.jobs,
  '--out',
  out,
  '--quiet',
]);

const results = JSON.parse(readFileSync(out, 'utf8')).verifiers.mutual;
const cases = results.cases;
const falseAccepts = cases.filter((c) => c.expected === 'FAILURE' && c.verdict === 'ACCEPT');
const broken = cases.filter((c) => c.verdict === 'ERROR' || c.verdict === 'TIMEOUT');
const t = results.totals;
console.log(
  `conformance gate: ${t.n} cases, ${t.pass} passed, ${t.fail} failed, ${t.skip} skipped; ` +
    `${falseAccepts.length} false accepts, ${broken.length} errors/timeouts`,
);
for (const c of falseAccepts) console.log(`  FALSE ACCEPT ${c.id}: ${c.reason}`);
for (const c of broken) console.log(`  ${c.verdict} ${c.id}: ${c.reason}`);
process.exit(falseAccepts.length > 0 || broken.length > 0 ? 1 : 0);
