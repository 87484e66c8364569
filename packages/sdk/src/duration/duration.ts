const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+)(ms|s|m|h|d|w)/gy;

/**
 * Parses a duration such as `24h`, `90d`, `1h30m`, `500ms` into milliseconds. Returns undefined
 * for anything else (no bare numbers: a unit is always required, so `24` is never 24 ms by accident).
 */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 32) return undefined;
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = PART.exec(text)) !== null) {
    const [whole, amount, unit] = match;
    total += Number(amount) * (UNITS[unit ?? ''] ?? Number.NaN);
    consumed += whole.length;
  }
  if (consumed !== text.length || !Number.isSafeInteger(total)) return undefined;
  return total;
}

/** Formats milliseconds in the largest whole units, e.g. 90000000 → `1d1h`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const parts: string[] = [];
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit] ?? 1;
    const n = Math.floor(rest / size);
    if (n > 0) {
      parts.push(`${n}${unit}`);
      rest -= n * size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}ms`);
  return sign + parts.join('');
}
