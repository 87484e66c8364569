import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { FeedEvent } from '../ca/index.js';
import { REPLAY_SLICE, streamRevocations, type RevocationStream } from './revocation-stream.js';

const event = (seq: number): FeedEvent => ({
  id: String(seq),
  entry: {
    serial: (0x1000000 + seq).toString(16),
    issuerFingerprint: 'ab'.repeat(32),
    revokedAt: new Date(Date.UTC(2031, 4, 4) + seq),
    reason: 'keyCompromise',
    notAfter: new Date(Date.UTC(2032, 0, 1)),
  },
});

/** A revocation state stand-in: a fixed backlog and listeners the test fires. */
function fakeState(backlog: FeedEvent[]) {
  const listeners = new Set<(e: FeedEvent) => void>();
  const asked: (string | undefined)[] = [];
  return {
    asked,
    emit: (e: FeedEvent) => {
      for (const l of listeners) l(e);
    },
    listeners,
    state: {
      since: (id: string | undefined) => {
        asked.push(id);
        return id === undefined ? backlog : backlog.filter((e) => BigInt(e.id) > BigInt(id));
      },
      onEvent: (l: (e: FeedEvent) => void) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    },
  };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((resolve) => {
          s.closeAllConnections();
          s.close(resolve);
        }),
    ),
  );
});

interface Opened {
  readonly port: number;
  readonly streams: RevocationStream[];
  readonly ended: number[];
  readonly cutOff: number[];
}

async function serve(
  state: ReturnType<typeof fakeState>['state'],
  afterOpen: (stream: RevocationStream) => void = () => undefined,
): Promise<Opened> {
  const opened: Opened = { port: 0, streams: [], ended: [], cutOff: [] };
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const header = req.headers['last-event-id'];
    const stream = streamRevocations(res, state, typeof header === 'string' ? header : undefined, {
      onEnd: () => opened.ended.push(1),
      onCutOff: () => opened.cutOff.push(1),
    });
    opened.streams.push(stream);
    req.on('close', () => {
      stream.end();
    });
    afterOpen(stream);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { ...opened, port: (server.address() as AddressInfo).port, streams: opened.streams };
}

function open(port: number, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', headers }, resolve).on('error', reject);
  });
}

/** Reads the stream until `until` holds for the text so far. */
function readUntil(res: IncomingMessage, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    const onData = (chunk: string): void => {
      text += chunk;
      if (until(text)) {
        res.off('data', onData);
        resolve(text);
      }
    };
    res.on('data', onData);
    res.on('error', reject);
    res.on('end', () => {
      resolve(text);
    });
  });
}

const ids = (text: string): string[] => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => m[1] as string);

describe('revocation stream', () => {
  it('replays a long backlog in slices while the event loop turns, then the revocations committed meanwhile, in order', async () => {
    const backlog = Array.from({ length: 20_000 }, (_, i) => event(i + 1));
    const fake = fakeState(backlog);
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    const opened = await serve(fake.state, () => {
      count();
      // Committed while the backlog is still being written: held, then sent after it.
      fake.emit(event(20_001));
      setImmediate(() => {
        fake.emit(event(20_002));
      });
    });
    const res = await open(opened.port);
    const text = await readUntil(res, (t) => t.includes('id: 20002\n'));
    counting = false;
    const seen = ids(text);
    expect(seen).toEqual(Array.from({ length: 20_002 }, (_, i) => String(i + 1)));
    expect(text.indexOf(': live')).toBeGreaterThan(text.indexOf('id: 20000\n'));
    expect(text.indexOf(': live')).toBeLessThan(text.indexOf('id: 20001\n'));
    expect(text.startsWith('retry: 2000\n\n')).toBe(true);
    // Not written in one piece: the loop turned between slices.
    expect(turns).toBeGreaterThanOrEqual(backlog.length / REPLAY_SLICE - 1);
    res.destroy();
  });

  it('resumes after Last-Event-ID and sends live revocations as they come', async () => {
    const fake = fakeState([event(1), event(2), event(3)]);
    const opened = await serve(fake.state);
    const res = await open(opened.port, { 'last-event-id': '1' });
    let text = await readUntil(res, (t) => t.includes(': live'));
    expect(fake.asked).toEqual(['1']);
    expect(ids(text)).toEqual(['2', '3']);
    fake.emit(event(4));
    text = await readUntil(res, (t) => t.includes('id: 4\n'));
    expect(text).toContain('event: revoked\ndata: {"serial":"1000004",');
    res.destroy();
  });

  it('end() stops following the feed and ends the response once', async () => {
    const fake = fakeState([event(1)]);
    const opened = await serve(fake.state);
    const res = await open(opened.port);
    await readUntil(res, (t) => t.includes(': live'));
    expect(fake.listeners.size).toBe(1);
    const ended = new Promise((resolve) => res.on('end', resolve));
    opened.streams[0]?.end();
    opened.streams[0]?.end();
    await ended;
    expect(fake.listeners.size).toBe(0);
    expect(opened.ended).toEqual([1]);
    expect(opened.cutOff).toEqual([]);
  });

  it('cuts off a subscriber that stops reading instead of buffering without bound', async () => {
    const fake = fakeState([]);
    const opened = await serve(fake.state);
    const res = await open(opened.port);
    await readUntil(res, (t) => t.includes(': live'));
    res.pause();
    const closed = new Promise((resolve) => res.socket.on('close', resolve));
    let seq = 1;
    // Far more than the socket buffers and the 4 MiB allowance hold (~190 bytes an event).
    while (opened.cutOff.length === 0 && seq < 400_000) {
      for (let i = 0; i < 1000; i++) fake.emit(event(seq++));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(opened.cutOff).toEqual([1]);
    expect(fake.listeners.size).toBe(0);
    // What was written before the cut-off drains, then the connection ends.
    res.resume();
    await closed;
    expect(opened.ended).toEqual([1]);
  });
});
