/**
 * output: how the CLI prints — tables and times for people, JSON for scripts. Never prints
 * private keys, passphrases or tokens.
 */
export { formatTimeLeft, table, colonHex, json } from './format.js';
