#!/usr/bin/env node
// Runs one x509-limbo test case (JSON on stdin) through mutual's verifier and prints
// ACCEPT, REJECT or SKIP with the reason — the same answer as `mutual verify --limbo-case -`,
// for when the CLI package is not built. Needs `npx tsc -b packages/sdk` first.
// Usage: node scripts/limbo-case.mjs [SDK_DIST_DIR] < case.json   (default packages/sdk/dist)
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2]
  ? path.resolve(process.argv[2])
  : path.resolve(path.dirname(new URL(import.meta.url).pathname), '../packages/sdk/dist');
const { runLimboCase } = await import(pathToFileURL(path.join(dist, 'verify/index.js')).href);

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
let testcase;
try {
  testcase = JSON.parse(Buffer.concat(chunks).toString('utf8'));
} catch (err) {
  process.stdout.write(`SKIP input is not a JSON test case: ${err.message}\n`);
  process.exit(0);
}
const out = runLimboCase(testcase, new Date());
process.stdout.write(`${out.verdict} ${out.reason.replace(/\n/g, ' ')}\n`);
