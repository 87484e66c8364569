import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MutualError, errorCatalog, renderErrorsDoc } from './index.js';

describe('error catalog', () => {
  it('docs/reference/errors.md matches the catalog (run `npm run docs:generate` to regenerate)', () => {
    const file = new URL('../../../../docs/reference/errors.md', import.meta.url);
    if (process.env['UPDATE_DOCS'] === '1') writeFileSync(file, renderErrorsDoc());
    expect(readFileSync(file, 'utf8')).toBe(renderErrorsDoc());
  });

  it('every code follows ERR_<AREA>_<REASON> and has a message and doc line', () => {
    for (const [code, spec] of Object.entries(errorCatalog)) {
      expect(code).toMatch(/^ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
      expect(spec.message.length).toBeGreaterThan(5);
      expect(spec.doc.length).toBeGreaterThan(10);
    }
  });

  it('maps usage and config errors to exit 2 and refusals to exit 1, keeping the cause out of the public form', () => {
    const usage = new MutualError('ERR_USAGE_INVALID_ARGUMENT', { details: { field: 'x' } });
    expect(usage.exitCode).toBe(2);
    const internal = new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: new Error('secret path /root/key') });
    expect(internal.exitCode).toBe(1);
    expect(JSON.stringify(internal.toPublic())).not.toContain('secret');
  });
});
