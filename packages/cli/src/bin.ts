#!/usr/bin/env node
/**
 * The `mutual` command's entry point: the CLI's composition root. It reads the environment,
 * runs one command and exits with its code (0 ok, 1 failed or refused, 2 usage or config error).
 */
console.log('mutual');
