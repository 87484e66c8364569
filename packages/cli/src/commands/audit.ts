import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import type { AuditRecord } from '@mutual/server';
import type { CliContext } from '../context.js';
import { withLocalStore } from './cert.js';
import { json } from '../output/index.js';

function line(r: AuditRecord): string {
  return `${String(r.seq).padStart(6)}  ${r.at.toISOString()}  ${r.action.padEnd(18)} ${r.actor}  ${r.subject}  ${JSON.stringify(r.details)}\n`;
}

export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description("The CA's hash-chained audit trail");

  audit
    .command('verify')
    .description('Recompute the hash chain: exit 0 when intact, 1 when a record was edited, deleted or reordered')
    .option('--dir <dir>', 'CA directory')
    .option('--json', 'print the verdict as JSON')
    .action(async (opts: { dir?: string; json?: boolean }) => {
      await withLocalStore(ctx, opts.dir, async (store) => {
        const verdict = await store.verifyAuditChain();
        if (opts.json === true) ctx.stdout(json(verdict));
        else if (verdict.ok) ctx.stdout(`Audit chain intact: ${verdict.count} records.\n`);
        else ctx.stdout(`Audit chain BROKEN at record ${verdict.brokenAt}: ${verdict.reason}\n`);
        if (!verdict.ok) ctx.exitCode = 1;
      });
    });

  audit
    .command('tail')
    .description('Print the latest audit records; --follow keeps printing new ones')
    .option('--dir <dir>', 'CA directory')
    .option('-n, --lines <n>', 'how many of the latest records', '20')
    .option('-f, --follow', 'keep printing records as they are written (Ctrl-C stops)')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { dir?: string; lines: string; follow?: boolean; json?: boolean }) => {
      const n = Number(opts.lines);
      const print = (r: AuditRecord): void => {
        ctx.stdout(
          opts.json === true ? JSON.stringify({ ...r, seq: String(r.seq), at: r.at.toISOString() }) + '\n' : line(r),
        );
      };
      await withLocalStore(ctx, opts.dir, async (store) => {
        // Find the tail without reading the whole log into memory: page through, keep the last n.
        let after = 0n;
        let last: AuditRecord[] = [];
        for (;;) {
          const page = await store.listAudit({ afterSeq: after, limit: 1000 });
          if (page.length === 0) break;
          last = [...last, ...page].slice(-n);
          after = page[page.length - 1]?.seq ?? after;
        }
        last.forEach(print);
        if (opts.follow !== true) return;
        const stop = new AbortController();
        process.once('SIGINT', () => {
          stop.abort();
        });
        while (!stop.signal.aborted) {
          for (const r of await store.listAudit({ afterSeq: after, limit: 1000 })) {
            print(r);
            after = r.seq;
          }
          await delay(1000, undefined, { signal: stop.signal }).catch(() => undefined);
        }
      });
    });
}
