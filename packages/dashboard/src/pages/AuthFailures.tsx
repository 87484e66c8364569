import { api } from '../api/index.js';
import { Empty, ErrorBox, Section, formatTime, useLoad } from '../app/index.js';
import { BarChart } from '../charts/index.js';

const POLL_MS = 5000;

function Counts({ title, rows }: { title: string; rows: readonly { key: string; count: number }[] }) {
  return (
    <Section title={title}>
      {rows.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <table>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key}>
                <td>{r.key === '' ? '(none)' : r.key}</td>
                <td className="num">{r.count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

/** Failed authentications reported by gateways and tunnels, by reason, identity and address; refreshed every 5 s. */
export function AuthFailures() {
  const data = useLoad(() => api.authFailures(), [], POLL_MS);
  const f = data.data;
  return (
    <div className="page">
      <h1>Failed authentications</h1>
      <p className="muted live">Updating live (every {POLL_MS / 1000} s).</p>
      <ErrorBox error={data.error} />
      {f === undefined ? (
        data.loading ? null : (
          <Empty title="No reports of failed authentications yet.">
            Gateways and tunnels report refused handshakes and requests to the CA; this CA has none to show.
          </Empty>
        )
      ) : f.total === 0 ? (
        <Empty title="No failed authentications in this window.">
          Nothing refused between {formatTime(f.since)} and {formatTime(f.until)} by the gateways and tunnels that
          report to this CA.
        </Empty>
      ) : (
        <>
          <p>
            <strong>{f.total}</strong> between {formatTime(f.since)} and {formatTime(f.until)}.
          </p>
          <BarChart
            title="Per hour"
            labelEvery={3}
            bars={f.buckets.map((b) => ({ label: b.start.slice(11, 16), value: b.count }))}
          />
          <div className="grid3">
            <Counts title="By reason" rows={f.byReason} />
            <Counts title="By identity" rows={f.byIdentity} />
            <Counts title="By address" rows={f.byAddress} />
          </div>
          <Section title="Most recent">
            {f.recent.length === 0 ? (
              <p className="muted">None.</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th>Time</th>
                    <th>Component</th>
                    <th>Stage</th>
                    <th>Reason</th>
                    <th>Identity</th>
                    <th>Address</th>
                  </tr>
                </thead>
                <tbody>
                  {f.recent.map((e, i) => (
                    <tr key={`${e.at}-${i}`}>
                      <td>{formatTime(e.at)}</td>
                      <td>{e.component}</td>
                      <td>{e.stage}</td>
                      <td>{e.reason}</td>
                      <td>{e.identity ?? '—'}</td>
                      <td>{e.address ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
        </>
      )}
    </div>
  );
}
