import { useState, type SyntheticEvent } from 'react';
import { api } from '../api/index.js';
import { Empty, ErrorBox, Section, formatTime, relative, useLoad } from '../app/index.js';

type Profile = 'server' | 'client' | 'both';
type Names = { dns: string[]; ip: string[]; uri: string[]; email: string[] };

/** Splits "api.internal, spiffe://td/svc, 10.0.0.1" into the kinds of names a token grants. */
function parseNames(text: string): Names {
  const names: Names = { dns: [], ip: [], uri: [], email: [] };
  for (const raw of text.split(/[\s,]+/)) {
    const n = raw.trim();
    if (n === '') continue;
    if (n.includes('://')) names.uri.push(n);
    else if (n.includes('@')) names.email.push(n);
    else if (/^[0-9.]+$/.test(n) || n.includes(':')) names.ip.push(n);
    else names.dns.push(n);
  }
  return names;
}

const quote = (s: string): string => (/^[A-Za-z0-9._:/@-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

/** Mint a one-time enrollment token (shown once, with the command that uses it) and list the unused ones. */
export function Tokens() {
  const unused = useLoad(() => api.unusedTokens(), []);
  const [names, setNames] = useState('');
  const [profile, setProfile] = useState<Profile>('server');
  const [ttl, setTtl] = useState('15m');
  const [minted, setMinted] = useState<{ token: string; command: string; expiresAt: string }>();
  const [error, setError] = useState<Error>();

  const create = async (event: SyntheticEvent): Promise<void> => {
    event.preventDefault();
    setError(undefined);
    setMinted(undefined);
    try {
      const parsed = parseNames(names);
      const r = await api.createToken({ names: parsed, profile, ttl });
      const command = `mutual cert request ${[...parsed.dns, ...parsed.ip, ...parsed.uri, ...parsed.email].map(quote).join(' ')} --token ${r.token} --out certs/`;
      setMinted({ token: r.token, command, expiresAt: r.expiresAt });
      unused.reload();
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    }
  };

  return (
    <div className="page">
      <h1>Tokens</h1>
      <Section title="Create an enrollment token">
        <form className="filters" onSubmit={(e) => void create(e)}>
          <label>
            Names
            <input
              name="names"
              required
              placeholder="api.internal spiffe://mutual.local/svc/api"
              value={names}
              onChange={(e) => {
                setNames(e.target.value);
              }}
            />
          </label>
          <label>
            Profile
            <select
              name="profile"
              value={profile}
              onChange={(e) => {
                setProfile(e.target.value as Profile);
              }}
            >
              <option value="server">server</option>
              <option value="client">client</option>
              <option value="both">both</option>
            </select>
          </label>
          <label>
            Valid for
            <input
              name="ttl"
              value={ttl}
              onChange={(e) => {
                setTtl(e.target.value);
              }}
            />
          </label>
          <button type="submit">Create token</button>
        </form>
        <ErrorBox error={error} />
        {minted === undefined ? null : (
          <div className="minted" role="status">
            <p>
              Token created; it works once, until {formatTime(minted.expiresAt)}. It is shown only now: copy the command
              and run it where the key should live.
            </p>
            <pre className="command">{minted.command}</pre>
          </div>
        )}
      </Section>
      <Section title="Unused tokens">
        <ErrorBox error={unused.error} />
        {unused.data !== undefined && unused.data.items.length === 0 ? (
          <Empty title="No unused tokens." />
        ) : (
          <table>
            <thead>
              <tr>
                <th>ID (jti)</th>
                <th>Names</th>
                <th>Profile</th>
                <th>Minted</th>
                <th>Expires</th>
                <th>By</th>
              </tr>
            </thead>
            <tbody>
              {(unused.data?.items ?? []).map((t) => (
                <tr key={t.jti}>
                  <td>
                    <code>{t.jti}</code>
                  </td>
                  <td>{[...t.names.uri, ...t.names.dns, ...t.names.ip, ...t.names.email].join(', ')}</td>
                  <td>{t.profile}</td>
                  <td>{formatTime(t.mintedAt)}</td>
                  <td title={formatTime(t.expiresAt)}>{relative(t.expiresAt)}</td>
                  <td>{t.mintedBy}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </div>
  );
}
