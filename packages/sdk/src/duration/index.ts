/**
 * duration: the one way mutual reads and writes durations (`24h`, `90d`, `1h30m`, `500ms`).
 * A unit is always required; nothing here reads the clock.
 */
export { parseDuration, formatDuration } from './duration.js';
