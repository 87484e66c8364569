/** Dates and durations as an operator reads them: UTC, and "in 3 h" / "2 d ago". */
export function formatTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '—';
  return iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
    .replace(/Z$/, ' UTC');
}

export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (iso === null || iso === undefined) return '—';
  const ms = new Date(iso).getTime() - now;
  const abs = Math.abs(ms);
  const unit =
    abs < 90_000
      ? `${Math.round(abs / 1000)} s`
      : abs < 90 * 60_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 48 * 3_600_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} d`;
  return ms >= 0 ? `in ${unit}` : `${unit} ago`;
}

export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value < 120) return `${Math.round(value)} s`;
  if (value < 7200) return `${Math.round(value / 60)} min`;
  return `${Math.round(value / 3600)} h`;
}
