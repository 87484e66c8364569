/**
 * charts: small SVG charts drawn by the dashboard itself (no chart library, nothing from a CDN,
 * styled by the bundled stylesheet so the strict CSP holds).
 */
export { BarChart, type Bar } from './BarChart.js';
