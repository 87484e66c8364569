// Timers that fire when the test moves the clock: the credential sources plan with the same
// clock the CA issues with, so a test walks through a certificate's life without sleeping.
import type { TestClock } from './ca-server.js';

interface Pending {
  readonly at: number;
  readonly fn: () => void;
}

export class ManualTimers {
  readonly #clock: TestClock;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  constructor(clock: TestClock) {
    this.#clock = clock;
  }

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.#next++;
    this.#pending.set(id, { at: this.#clock.now().getTime() + ms, fn });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.#pending.delete(handle as number);
  };

  /** When the earliest pending timer is due, if any. */
  nextAt(): Date | undefined {
    let min: number | undefined;
    for (const p of this.#pending.values()) if (min === undefined || p.at < min) min = p.at;
    return min === undefined ? undefined : new Date(min);
  }

  /** Moves the clock by `ms` and runs every timer that became due (in time order). */
  advance(ms: number): void {
    this.#clock.advance(ms);
    this.runDue();
  }

  /** Moves the clock to `at` (never backwards) and runs what is due. */
  advanceTo(at: Date): void {
    const delta = at.getTime() - this.#clock.now().getTime();
    if (delta > 0) this.#clock.advance(delta);
    this.runDue();
  }

  runDue(): void {
    const now = this.#clock.now().getTime();
    const due = [...this.#pending.entries()].filter(([, p]) => p.at <= now).sort((a, b) => a[1].at - b[1].at);
    for (const [id, p] of due) {
      this.#pending.delete(id);
      p.fn();
    }
  }
}
