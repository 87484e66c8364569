#!/usr/bin/env node
/**
 * The `mutual` command's entry point and the CLI's composition root: the only place that reads
 * the environment and exits. It runs one command and exits with its code
 * (0 ok, 1 failed or refused, 2 usage or configuration error).
 */
import 'reflect-metadata';
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  now: () => new Date(),
  interactive: process.stdout.isTTY,
  exitCode: 0,
});
process.exitCode = code;
