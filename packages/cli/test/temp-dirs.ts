/**
 * Temporary directories made by tests, removed after each test file (vitest.config.ts runs
 * remove-temp-dirs.ts as a setup file). Kept on globalThis so the setup file and the test file
 * see the same list whatever module instances they get.
 */
const KEY = Symbol.for('mutual.test.tempDirs');

export function tempDirs(): Set<string> {
  const holder = globalThis as { [KEY]?: Set<string> };
  const known = holder[KEY];
  if (known !== undefined) return known;
  const created = new Set<string>();
  holder[KEY] = created;
  return created;
}

/** Removes `dir` (recursively) once the current test file has finished. */
export function removeAfterFile(dir: string): string {
  tempDirs().add(dir);
  return dir;
}
