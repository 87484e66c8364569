import { createServer, type Server } from 'node:http';
import type { CertificateView } from './agent.js';

/** Prometheus text exposition of the agent's certificates (names are stable: docs/lifecycle.md). */
export function renderMetrics(
  views: readonly CertificateView[],
  now: Date,
  revocations: { readonly success: number; readonly failure: number } = { success: 0, failure: 0 },
): string {
  const lines: string[] = [];
  const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const family = (name: string, type: string, help: string, samples: string[]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  family(
    'mutual_agent_certificate_expiry_seconds',
    'gauge',
    'Seconds until the managed certificate expires (negative once expired).',
    views
      .filter((v) => v.notAfter !== null)
      .map(
        (v) =>
          `mutual_agent_certificate_expiry_seconds{certificate="${label(v.name)}"} ${((v.notAfter?.getTime() ?? 0) - now.getTime()) / 1000}`,
      ),
  );
  family(
    'mutual_agent_certificate_renew_at_seconds',
    'gauge',
    'Seconds until the planned renewal (negative once due).',
    views
      .filter((v) => v.renewAt !== null)
      .map(
        (v) =>
          `mutual_agent_certificate_renew_at_seconds{certificate="${label(v.name)}"} ${((v.renewAt?.getTime() ?? 0) - now.getTime()) / 1000}`,
      ),
  );
  family(
    'mutual_agent_renewals_total',
    'counter',
    'Enrollment and renewal attempts since the agent started, by outcome.',
    views.flatMap((v) => [
      `mutual_agent_renewals_total{certificate="${label(v.name)}",outcome="success"} ${v.renewals.success}`,
      `mutual_agent_renewals_total{certificate="${label(v.name)}",outcome="failure"} ${v.renewals.failure}`,
    ]),
  );
  family(
    'mutual_agent_certificate_overdue',
    'gauge',
    '1 when the renewal is overdue (past the overdue point of the lifetime, or expired).',
    views.map((v) => `mutual_agent_certificate_overdue{certificate="${label(v.name)}"} ${v.overdue ? 1 : 0}`),
  );
  family(
    'mutual_agent_consecutive_failures',
    'gauge',
    'Failed attempts since the last success.',
    views.map((v) => `mutual_agent_consecutive_failures{certificate="${label(v.name)}"} ${v.failures}`),
  );
  family(
    'mutual_agent_revocations_total',
    'counter',
    'Revocations the agent asked of the CA since it started (revokeReplaced, revokeOnRemove), by outcome.',
    [
      `mutual_agent_revocations_total{outcome="success"} ${revocations.success}`,
      `mutual_agent_revocations_total{outcome="failure"} ${revocations.failure}`,
    ],
  );
  return `${lines.join('\n')}\n`;
}

/** Serves GET /metrics (and /healthz) on the given address. */
export async function serveMetrics(
  host: string | undefined,
  port: number,
  render: () => string,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(render());
    } else if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host ?? '127.0.0.1', () => {
      resolve();
    });
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : port };
}
