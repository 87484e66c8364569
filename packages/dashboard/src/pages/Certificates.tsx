import { useState, type SyntheticEvent } from 'react';
import { certificateStates, type CertificateSummary } from '@mutual/sdk/contract';
import { api } from '../api/index.js';
import {
  Empty,
  ErrorBox,
  Link,
  StateBadge,
  formatTime,
  navigate,
  relative,
  useLoad,
  type Route,
} from '../app/index.js';

type SortKey = 'notAfter' | 'serial' | 'identity' | 'state' | 'profile';

const EXPIRY_CHOICES = [
  ['', 'any expiry'],
  ['1d', 'expiring within 1 day'],
  ['7d', 'expiring within 7 days'],
  ['30d', 'expiring within 30 days'],
] as const;

function compare(a: CertificateSummary, b: CertificateSummary, key: SortKey): number {
  const x = key === 'identity' ? (a.identity ?? a.subject) : a[key];
  const y = key === 'identity' ? (b.identity ?? b.subject) : b[key];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The inventory: search, filter by state, profile, identity and expiry, sort, page; a row opens the detail. */
export function Certificates({ route }: { route: Route }) {
  const p = route.params;
  const filter = {
    search: p.get('search') ?? '',
    state: p.get('state') ?? '',
    profile: p.get('profile') ?? '',
    identity: p.get('identity') ?? '',
    expiringWithin: p.get('expiringWithin') ?? '',
  };
  const [draft, setDraft] = useState(filter);
  const [sort, setSort] = useState<{ key: SortKey; asc: boolean }>({ key: 'notAfter', asc: true });
  const [more, setMore] = useState<CertificateSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const key = JSON.stringify(filter);
  const list = useLoad(async () => {
    // "expiring within" selects certificates still valid that expire inside the window.
    const state = filter.expiringWithin !== '' && filter.state === '' ? 'expiring' : filter.state;
    const page = await api.certificates({
      search: filter.search,
      state,
      profile: filter.profile,
      identity: filter.identity,
      expiringWithin: filter.expiringWithin,
      limit: 200,
    });
    setMore([]);
    setCursor(page.nextCursor);
    return page;
  }, [key]);

  const apply = (event: SyntheticEvent): void => {
    event.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(draft)) if (v !== '') q.set(k, v);
    const text = q.toString();
    navigate(`certificates${text === '' ? '' : `?${text}`}`);
  };
  const loadMore = async (): Promise<void> => {
    if (cursor === null) return;
    const page = await api.certificates({ ...filter, limit: 200, cursor });
    setMore((m) => [...m, ...page.items]);
    setCursor(page.nextCursor);
  };
  const items = [...(list.data?.items ?? []), ...more].sort((a, b) => compare(a, b, sort.key) * (sort.asc ? 1 : -1));
  const header = (k: SortKey, label: string) => (
    <th aria-sort={sort.key === k ? (sort.asc ? 'ascending' : 'descending') : 'none'}>
      <button
        type="button"
        className="sort"
        onClick={() => {
          setSort((s) => ({ key: k, asc: s.key === k ? !s.asc : true }));
        }}
      >
        {label}
        {sort.key === k ? (sort.asc ? ' ▲' : ' ▼') : ''}
      </button>
    </th>
  );
  const field = (name: keyof typeof draft, label: string) => (
    <label>
      {label}
      <input
        name={name}
        value={draft[name]}
        onChange={(e) => {
          setDraft({ ...draft, [name]: e.target.value });
        }}
      />
    </label>
  );

  return (
    <div className="page">
      <h1>Certificates</h1>
      <form className="filters" onSubmit={apply} role="search">
        {field('search', 'Search')}
        <label>
          State
          <select
            name="state"
            value={draft.state}
            onChange={(e) => {
              setDraft({ ...draft, state: e.target.value });
            }}
          >
            <option value="">any state</option>
            {certificateStates.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {field('profile', 'Profile')}
        {field('identity', 'Identity')}
        <label>
          Expiry
          <select
            name="expiringWithin"
            value={draft.expiringWithin}
            onChange={(e) => {
              setDraft({ ...draft, expiringWithin: e.target.value });
            }}
          >
            {EXPIRY_CHOICES.map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Apply</button>
      </form>
      <ErrorBox error={list.error} />
      {list.data !== undefined && items.length === 0 ? (
        <Empty title="No certificate matches." />
      ) : (
        <table className="certificates">
          <thead>
            <tr>
              {header('identity', 'Identity')}
              {header('state', 'State')}
              {header('profile', 'Profile')}
              {header('serial', 'Serial')}
              {header('notAfter', 'Expires')}
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.serial} data-serial={c.serial}>
                <td>{c.identity ?? c.subject}</td>
                <td>
                  <StateBadge state={c.state} />
                </td>
                <td>{c.profile}</td>
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
      {cursor === null ? null : (
        <button type="button" onClick={() => void loadMore()}>
          Load more
        </button>
      )}
    </div>
  );
}
