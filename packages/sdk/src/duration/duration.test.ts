import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('durations', () => {
  it('parses unit sums and refuses bare numbers or junk', () => {
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90d')).toBe(90 * 86_400_000);
    for (const bad of ['', '24', 'h', '1x', '1h ', '-1h', '1.5h', '9'.repeat(40) + 'd']) {
      expect(parseDuration(bad)).toBeUndefined();
    }
  });

  it('formats in the largest whole units', () => {
    expect(formatDuration(90_000_000)).toBe('1d1h');
    expect(formatDuration(61_000)).toBe('1m1s');
    expect(formatDuration(0)).toBe('0s');
  });
});
