import { certificateStates } from '@mutual/sdk/contract';
import { api } from '../api/index.js';
import { Empty, ErrorBox, Link, Section, StateBadge, formatTime, relative, seconds, useLoad } from '../app/index.js';
import { BarChart } from '../charts/index.js';

/** Counts by state, what expires soon, failed authentications over 24 h, and the health of every component. */
export function Overview() {
  const counts = useLoad(() => api.counts(), []);
  const expiring = useLoad(() => api.certificates({ state: 'expiring', limit: 10 }), []);
  const failures = useLoad(() => api.authFailures(), [], 30_000);
  const ready = useLoad(() => api.readiness(), [], 30_000);
  const components = useLoad(() => api.components(), [], 30_000);
  const status = useLoad(() => api.status(), [], 30_000);
  const standing = new Map((status.data?.components ?? []).map((c) => [`${c.kind}/${c.name}`, c.standing]));
  const trusts = { trusts: 'yes', lacks: 'NO', unreported: 'not reported', stale: '—' } as const;
  return (
    <div className="page">
      <h1>Overview</h1>
      <Section title="Next steps">
        <ErrorBox error={status.error} />
        {status.data === undefined ? null : status.data.next.length === 0 ? (
          <Empty title="Nothing to do.">
            No rotation is due or in progress; root {status.data.root.fingerprint.slice(0, 16)}…, intermediate{' '}
            {status.data.intermediate.fingerprint.slice(0, 16)}… valid until{' '}
            {formatTime(status.data.intermediate.notAfter)}.
          </Empty>
        ) : (
          <ol className="next-steps">
            {status.data.next.map((step) => (
              <li key={step}>{step}</li>
            ))}
          </ol>
        )}
      </Section>
      <Section title="Certificates by state">
        <ErrorBox error={counts.error} />
        <div className="counts">
          {certificateStates.map((state) => (
            <Link key={state} to={`certificates?state=${state}`} className="count">
              <span className="number">{counts.data?.[state] ?? 0}</span>
              <StateBadge state={state} />
            </Link>
          ))}
        </div>
      </Section>
      <Section title="Expiring soon">
        <ErrorBox error={expiring.error} />
        {expiring.data !== undefined && expiring.data.items.length === 0 ? (
          <Empty title="Nothing is expiring soon." />
        ) : (
          <table>
            <thead>
              <tr>
                <th>Identity</th>
                <th>Serial</th>
                <th>Expires</th>
              </tr>
            </thead>
            <tbody>
              {(expiring.data?.items ?? []).map((c) => (
                <tr key={c.serial}>
                  <td>{c.identity ?? c.subject}</td>
                  <td>
                    <Link to={`certificates/${c.serial}`}>
                      <code>{c.serial}</code>
                    </Link>
                  </td>
                  <td title={formatTime(c.notAfter)}>{relative(c.notAfter)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Failed authentications, last 24 hours">
        <ErrorBox error={failures.error} />
        {failures.data === undefined ? (
          failures.loading ? null : (
            <Empty title="No reports of failed authentications yet.">
              Gateways and tunnels report refused handshakes and requests to the CA; none has reported here.
            </Empty>
          )
        ) : (
          <>
            <p>
              <strong>{failures.data.total}</strong> failed authentications since {formatTime(failures.data.since)}.{' '}
              <Link to="auth-failures">Details</Link>
            </p>
            <BarChart
              title="Failed authentications per hour"
              labelEvery={3}
              bars={failures.data.buckets.map((b) => ({
                label: b.start.slice(11, 16),
                value: b.count,
                title: `${formatTime(b.start)}: ${b.count}`,
              }))}
            />
          </>
        )}
      </Section>
      <Section title="Health">
        <ErrorBox error={ready.error ?? components.error} />
        <table>
          <thead>
            <tr>
              <th>Component</th>
              <th>Status</th>
              <th>Last seen</th>
              <th>Revocation data age</th>
              <th>Trusts current root</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <td>CA (this instance)</td>
              <td>
                <StateBadge state={ready.data?.status === 'ready' ? 'ok' : (ready.data?.status ?? 'unknown')} />
              </td>
              <td>now</td>
              <td>{ready.data?.checks['crl'] === 'ok' ? 'CRL current' : (ready.data?.checks['crl'] ?? '—')}</td>
              <td>—</td>
              <td>
                {Object.entries(ready.data?.checks ?? {})
                  .map(([k, v]) => `${k}: ${v}`)
                  .join(', ')}
              </td>
            </tr>
            {(components.data ?? []).map((c) => (
              <tr key={`${c.kind}/${c.name}`}>
                <td>
                  {c.kind} <strong>{c.name}</strong>
                </td>
                <td>
                  <StateBadge state={c.stale ? 'stale' : c.health.status} />
                </td>
                <td title={formatTime(c.lastSeen)}>{relative(c.lastSeen)}</td>
                <td>{seconds(c.health.revocationDataAgeSeconds)}</td>
                <td>{trusts[standing.get(`${c.kind}/${c.name}`) ?? 'stale']}</td>
                <td>{c.health.detail ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {components.data === undefined && !components.loading ? (
          <Empty title="No gateway or agent has reported to this CA yet.">
            Gateways and agents report their health to the CA; they appear here once they do.
          </Empty>
        ) : components.data?.length === 0 ? (
          <Empty title="No gateway or agent has reported to this CA yet." />
        ) : null}
      </Section>
    </div>
  );
}
