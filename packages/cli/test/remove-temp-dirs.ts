import { rmSync } from 'node:fs';
import { afterAll } from 'vitest';
import { tempDirs } from './temp-dirs.js';

// Runs after the file's own afterAll hooks (vitest runs "after" hooks in reverse order of registration),
// so agents and servers the file started are stopped before their directories go.
afterAll(() => {
  const dirs = tempDirs();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
});
