/** The doctor's report for people: the steps, then each finding with its explanation and fix. */
import type { DoctorReport } from './types.js';

const cap = (t: string): string => t.charAt(0).toUpperCase() + t.slice(1);

const MARK = { ok: '[ok]  ', failed: '[FAIL]', warning: '[warn]', skipped: '[skip]' } as const;

export function renderReport(r: DoctorReport): string {
  const lines: string[] = [`mutual doctor ${r.target}`, ''];
  const width = Math.max(...r.steps.map((s) => s.name.length));
  for (const s of r.steps) lines.push(`  ${MARK[s.status]} ${s.name.padEnd(width)}  ${s.detail}`);
  const h = r.handshake;
  if (h.serverChain.length > 0) {
    lines.push('', 'Server chain as presented:');
    h.serverChain.forEach((c, i) => {
      lines.push(`  ${i}: ${c.subject}  (issuer ${c.issuer}; ${c.notBefore} → ${c.notAfter})`);
    });
  }
  lines.push('');
  if (r.findings.length === 0) {
    lines.push(r.ok ? 'Everything works: the server and this client authenticated each other.' : 'No finding.');
  }
  for (const f of r.findings) {
    lines.push(
      `${f.severity === 'error' ? 'ERROR' : f.severity === 'warning' ? 'WARN' : 'INFO'} ${f.id} (${f.side} side): ${f.summary}`,
    );
    lines.push(`  why: ${cap(f.explanation)}`);
    lines.push(`  fix: ${cap(f.fix)}`);
    lines.push('');
  }
  if (r.findings.length > 0) {
    const errors = r.findings.filter((f) => f.severity === 'error');
    const sides = [...new Set(errors.map((f) => f.side))];
    lines.push(
      r.ok
        ? 'Result: the mTLS exchange works (with warnings).'
        : `Result: the mTLS exchange fails — ${errors.length} problem(s) on the ${sides.join(' and ')} side.`,
    );
  }
  return `${lines.join('\n')}\n`;
}
