import type { CertificateSummary } from '@mutual/sdk/contract';
import { api } from '../api/index.js';
import { Empty, ErrorBox, Link, Section, StateBadge, formatTime, relative, useLoad } from '../app/index.js';
import { BarChart } from '../charts/index.js';

const DAYS = 30;
const DAY = 86_400_000;

/** Upcoming expiries of valid certificates: per day over the next 30 days, and the soonest ones. */
export function Expiry() {
  const list = useLoad(async () => {
    const items: CertificateSummary[] = [];
    let cursor: string | undefined;
    // The inventory is ordered by expiry: pages until past the window (at most 5000 certificates).
    for (let i = 0; i < 5; i++) {
      const page = await api.certificates({
        state: 'valid,expiring',
        limit: 1000,
        ...(cursor === undefined ? {} : { cursor }),
      });
      items.push(...page.items);
      const last = page.items[page.items.length - 1];
      if (page.nextCursor === null || last === undefined || new Date(last.notAfter).getTime() > Date.now() + DAYS * DAY)
        break;
      cursor = page.nextCursor;
    }
    return items;
  }, []);
  const start = new Date();
  start.setUTCHours(0, 0, 0, 0);
  const bars = Array.from({ length: DAYS }, (_, i) => {
    const from = start.getTime() + i * DAY;
    const day = new Date(from).toISOString().slice(5, 10);
    const value = (list.data ?? []).filter((c) => {
      const t = new Date(c.notAfter).getTime();
      return t >= from && t < from + DAY;
    }).length;
    return { label: day, value, title: `${day}: ${value} certificate(s) expire` };
  });
  const soonest = (list.data ?? []).slice(0, 25);
  return (
    <div className="page">
      <h1>Expiry timeline</h1>
      <ErrorBox error={list.error} />
      <Section title={`Certificates expiring per day, next ${DAYS} days (UTC)`}>
        <BarChart title="Expiries per day" bars={bars} labelEvery={3} />
      </Section>
      <Section title="Soonest expiries">
        {list.data !== undefined && soonest.length === 0 ? (
          <Empty title="No valid certificates." />
        ) : (
          <table>
            <thead>
              <tr>
                <th>Identity</th>
                <th>State</th>
                <th>Serial</th>
                <th>Expires</th>
              </tr>
            </thead>
            <tbody>
              {soonest.map((c) => (
                <tr key={c.serial}>
                  <td>{c.identity ?? c.subject}</td>
                  <td>
                    <StateBadge state={c.state} />
                  </td>
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
    </div>
  );
}
