/**
 * V8 settings of the gateway's processes (ADR 0021, 0025). Allocation-site pretenuring lets V8 allocate
 * the objects of a literal directly in the old generation once enough of them survived a young
 * collection; under keep-alive load it picked per-request objects, whose young children then had
 * to be kept and copied by every scavenge (12–20 ms each instead of 1–2 ms). Off for the gateway.
 */
import v8 from 'node:v8';

const GATEWAY_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/**
 * V8 13 (Node 24) starts full markings from a task whenever the free old-generation room is under
 * four times the young generation's maximum capacity; with the 32 MB maximum that held all the time
 * at a few requests in flight: a Mark-Compact every 100–200 ms and no scavenge at all (ADR 0025).
 * Set at run time, this flag lowers the maximum that rule reads — measured: the full markings stop and
 * c1/c4 latency halves — while the young generation itself still grows as before (it is sized from
 * the command-line value only; ADR 0025's correction). Older V8s do not know the flag (and would
 * print an error for it), so it is set from V8 13 on.
 */
const V8_13_FLAGS: readonly string[] = ['--scavenger-max-new-space-capacity-mb=4'];

const v8Major = Number(process.versions.v8.split('.')[0]);

/**
 * Applies the flags to the running process, early, before the data path has allocated. Set at run
 * time rather than on a command line: a V8 that no longer knows a flag ignores it here, where an
 * unknown command-line flag would stop the process from starting.
 */
export function tuneV8ForGateway(): void {
  for (const flag of GATEWAY_V8_FLAGS) v8.setFlagsFromString(flag);
  if (v8Major >= 13) for (const flag of V8_13_FLAGS) v8.setFlagsFromString(flag);
}
