import { errorCatalog } from './catalog.js';

const exitFor = (kind: string): number => (kind === 'usage' || kind === 'config' ? 2 : 1);

/** Renders docs/reference/errors.md from the catalog. A test keeps the page in sync. */
export function renderErrorsDoc(): string {
  const codes = Object.keys(errorCatalog).sort() as (keyof typeof errorCatalog)[];
  const rows = codes.map((code) => {
    const spec = errorCatalog[code];
    return `| \`${code}\` | ${spec.kind} | ${spec.status} | ${exitFor(spec.kind)} | ${spec.message} | ${spec.doc} |`;
  });
  return [
    '# Error codes',
    '',
    'Every error mutual reports carries a stable code (`ERR_<AREA>_<REASON>`), a safe public message and, in logs',
    'only, an internal cause. The CLI prints `error[CODE]: message` and exits with the code below (0 ok, 1 failed or',
    'refused, 2 usage or configuration error); the HTTP API answers with the status below and',
    '`{ "error": { "code", "message", "details" } }`.',
    '',
    'This page is generated from `packages/sdk/src/errors/catalog*.ts` by `npm run docs:generate`; a test fails when',
    'the two differ.',
    '',
    '| code | kind | HTTP | exit | message | when and what to do |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
