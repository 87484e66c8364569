import type { AgentState } from './state.js';

export interface StatusRow {
  readonly name: string;
  readonly path: string;
  readonly serial: string | null;
  readonly notAfter: string | null;
  readonly renewAt: string | null;
  readonly overdueAt: string | null;
  readonly lastRenewalAt: string | null;
  readonly lastError: string | null;
  readonly failures: number;
  readonly retryAt: string | null;
  readonly overdue: boolean;
  readonly expired: boolean;
}

/** Each certificate of the state file judged at `now`: overdue past its overdue point, expired past notAfter. */
export function statusRows(state: AgentState, now: Date): StatusRow[] {
  return Object.entries(state.certificates).map(([name, c]) => {
    const t = now.getTime();
    const expired = c.notAfter === null ? false : t >= Date.parse(c.notAfter);
    const overdue =
      c.serial === null || expired || (c.overdueAt !== null && t >= Date.parse(c.overdueAt)) || c.status === 'overdue';
    return {
      name,
      path: c.path,
      serial: c.serial,
      notAfter: c.notAfter,
      renewAt: c.renewAt,
      overdueAt: c.overdueAt,
      lastRenewalAt: c.lastRenewalAt,
      lastError: c.lastError,
      failures: c.failures,
      retryAt: c.retryAt,
      overdue,
      expired,
    };
  });
}

export function formatStatus(state: AgentState, rows: readonly StatusRow[], now: Date): string {
  const ago = Math.round((now.getTime() - Date.parse(state.updatedAt)) / 1000);
  const out = [`agent ${state.agent} (pid ${state.pid}), state written ${ago}s ago`];
  for (const r of rows) {
    const flag = r.expired ? 'EXPIRED' : r.overdue ? 'OVERDUE' : r.failures > 0 ? 'RETRYING' : 'ok';
    out.push(
      `  ${r.name}: ${flag}`,
      `    file:          ${r.path}`,
      `    serial:        ${r.serial ?? '-'}`,
      `    notAfter:      ${r.notAfter ?? '-'}`,
      `    renewAt:       ${r.renewAt ?? '-'}`,
      `    last renewal:  ${r.lastRenewalAt ?? '-'}`,
      `    last error:    ${r.lastError ?? '-'}`,
    );
    if (r.failures > 0) out.push(`    failures:      ${r.failures}, next attempt ${r.retryAt ?? '-'}`);
  }
  return `${out.join('\n')}\n`;
}
