import type { ServerResponse } from 'node:http';
import type { FeedEvent, RevocationState } from '../ca/index.js';

/** Events written per slice of a replay: one write each, then the event loop turns (or the socket drains). */
export const REPLAY_SLICE = 500;
/** A live subscriber that leaves this much unread is cut off; it resumes with Last-Event-ID. */
export const MAX_UNREAD_BYTES = 4 * 1024 * 1024;
/** Live events held back while a replay is still being written; past this the subscriber is cut off. */
const MAX_HELD_EVENTS = 50_000;

/** One revocation as a server-sent event; its id is the revocation's audit sequence. */
export function formatEvent(event: FeedEvent): string {
  const data = JSON.stringify({
    serial: event.entry.serial,
    issuerFingerprint: event.entry.issuerFingerprint,
    revokedAt: event.entry.revokedAt.toISOString(),
    reason: event.entry.reason,
    notAfter: event.entry.notAfter.toISOString(),
  });
  return `id: ${event.id}\nevent: revoked\ndata: ${data}\n\n`;
}

const turn = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

const drainedOrClosed = (raw: ServerResponse): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      raw.off('drain', done);
      raw.off('close', done);
      resolve();
    };
    raw.on('drain', done);
    raw.on('close', done);
  });

export interface RevocationStream {
  /** Stops following the feed and ends the response (idempotent). */
  end(): void;
}

/**
 * Writes the revocation feed to one subscriber: first the backlog after `lastEventId` (all
 * unexpired revocations without one) in slices that respect the socket's backpressure and let the
 * event loop turn, so a replay of 100,000 revocations neither holds the CA up nor piles up in
 * memory; revocations committed meanwhile are held and follow the backlog in order; then each
 * revocation as it commits. A subscriber that stops reading is cut off rather than buffered
 * without bound (`onCutOff`); it resumes from its last event id like any reconnecting client.
 */
export function streamRevocations(
  raw: ServerResponse,
  state: Pick<RevocationState, 'since' | 'onEvent'>,
  lastEventId: string | undefined,
  hooks: { readonly onEnd: () => void; readonly onCutOff?: () => void },
): RevocationStream {
  let ended = false;
  /** Live events waiting for the replay to finish; undefined once live. */
  let held: FeedEvent[] | undefined = [];
  const backlog = state.since(lastEventId);

  const cutOff = (): void => {
    if (ended) return;
    hooks.onCutOff?.();
    finish();
    raw.destroy();
  };
  const writeLive = (event: FeedEvent): void => {
    if (ended) return;
    raw.write(formatEvent(event));
    if (raw.writableLength > MAX_UNREAD_BYTES) cutOff();
  };
  const off = state.onEvent((event) => {
    if (ended) return;
    if (held === undefined) {
      writeLive(event);
      return;
    }
    held.push(event);
    if (held.length > MAX_HELD_EVENTS) cutOff();
  });
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
  heartbeat.unref();

  function finish(): void {
    if (ended) return;
    ended = true;
    off();
    clearInterval(heartbeat);
    held = undefined;
    hooks.onEnd();
  }

  async function replay(): Promise<void> {
    raw.write('retry: 2000\n\n');
    for (let i = 0; i < backlog.length; i += REPLAY_SLICE) {
      if (ended) return;
      const stop = Math.min(backlog.length, i + REPLAY_SLICE);
      let chunk = '';
      for (let j = i; j < stop; j++) chunk += formatEvent(backlog[j] as FeedEvent);
      if (raw.write(chunk)) await turn();
      else await drainedOrClosed(raw);
    }
    if (ended) return;
    raw.write(': live\n\n');
    const waiting = held ?? [];
    held = undefined;
    for (const event of waiting) writeLive(event);
  }
  void replay();

  return {
    end() {
      if (ended) return;
      finish();
      raw.end();
    },
  };
}
