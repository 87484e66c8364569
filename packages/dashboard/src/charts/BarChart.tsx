/** One bar: its label under the axis, its value, and an optional tooltip text. */
export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly title?: string;
}

interface Props {
  readonly bars: readonly Bar[];
  readonly title: string;
  readonly height?: number;
  /** Show every n-th label (long series). */
  readonly labelEvery?: number;
}

/** A plain SVG bar chart: no library, no inline styles (colours come from the stylesheet). */
export function BarChart({ bars, title, height = 160, labelEvery = 1 }: Props) {
  const width = 720;
  const top = 12;
  const bottom = 28;
  const left = 36;
  const plot = height - top - bottom;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const step = bars.length === 0 ? 0 : (width - left) / bars.length;
  const ticks = [0, Math.ceil(max / 2), max];
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title}>
        {ticks.map((t) => {
          const y = top + plot - (t / max) * plot;
          return (
            <g key={t}>
              <line className="grid" x1={left} x2={width} y1={y} y2={y} />
              <text className="axis" x={left - 6} y={y + 4} textAnchor="end">
                {t}
              </text>
            </g>
          );
        })}
        {bars.map((b, i) => {
          const h = (b.value / max) * plot;
          const x = left + i * step + step * 0.15;
          return (
            <g key={`${b.label}-${i}`}>
              <rect className="bar" x={x} y={top + plot - h} width={Math.max(1, step * 0.7)} height={h}>
                <title>{b.title ?? `${b.label}: ${b.value}`}</title>
              </rect>
              {i % labelEvery === 0 ? (
                <text className="axis" x={x + (step * 0.7) / 2} y={height - 10} textAnchor="middle">
                  {b.label}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}
