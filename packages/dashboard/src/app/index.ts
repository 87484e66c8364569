/**
 * app: the dashboard's shell — the in-page router under /ui, links, the data-loading hook, date
 * formatting and the small shared pieces (empty states, errors, badges, sections).
 */
export { currentRoute, href, navigate, useRoute, type Route } from './router.js';
export { Link } from './Link.js';
export { useLoad, type Loaded } from './useLoad.js';
export { formatTime, relative, seconds } from './format.js';
export { Empty, ErrorBox, Section, StateBadge } from './ui.js';
