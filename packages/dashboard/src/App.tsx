import { useCallback, useEffect, useState } from 'react';
import type { SessionResponse } from '@mutual/sdk/contract';
import { api } from './api/index.js';
import { ErrorBox, Link, navigate, useRoute } from './app/index.js';
import {
  Audit,
  AuthFailures,
  CertificateDetail,
  Certificates,
  Expiry,
  Login,
  Overview,
  Tokens,
} from './pages/index.js';

const NAV: [string, string][] = [
  ['', 'Overview'],
  ['certificates', 'Certificates'],
  ['expiry', 'Expiry timeline'],
  ['auth-failures', 'Failed authentications'],
  ['audit', 'Audit log'],
  ['tokens', 'Tokens'],
];

/** The shell: who is signed in, the navigation, and the page of the current route. */
export function App() {
  const route = useRoute();
  const [session, setSession] = useState<SessionResponse>();
  const [error, setError] = useState<Error>();
  const onSession = useCallback((s: SessionResponse) => {
    setSession(s);
  }, []);
  const onLogin = route.path === 'login';
  useEffect(() => {
    if (onLogin && window.location.hash !== '') return;
    api
      .session()
      .then(setSession)
      .catch((err: unknown) => {
        setError(err instanceof Error ? err : new Error(String(err)));
      });
  }, [onLogin]);

  const signedIn = session !== undefined && session.via !== 'none';
  let page;
  if (onLogin || (session !== undefined && !signedIn)) page = <Login onSession={onSession} />;
  else if (!signedIn) page = <p className="muted">Loading…</p>;
  else if (route.path === '') page = <Overview />;
  else if (route.path === 'certificates') page = <Certificates route={route} />;
  else if (route.path.startsWith('certificates/')) page = <CertificateDetail serial={route.path.slice(13)} />;
  else if (route.path === 'expiry') page = <Expiry />;
  else if (route.path === 'auth-failures') page = <AuthFailures />;
  else if (route.path === 'audit') page = <Audit />;
  else if (route.path === 'tokens') page = <Tokens />;
  else page = <p>No such page.</p>;

  const logout = async (): Promise<void> => {
    await api.logout();
    setSession(await api.session());
    navigate('login', true);
  };

  return (
    <div className="layout">
      <nav aria-label="Main">
        <div className="brand">mutual</div>
        {signedIn
          ? NAV.map(([to, label]) => (
              <Link
                key={to}
                to={to}
                className={route.path === to || (to !== '' && route.path.startsWith(`${to}/`)) ? 'active' : undefined}
              >
                {label}
              </Link>
            ))
          : null}
        {signedIn ? (
          <div className="who">
            <span title={session.actor ?? ''}>{session.via === 'certificate' ? 'admin certificate' : 'signed in'}</span>
            {session.via === 'session' ? (
              <button type="button" onClick={() => void logout()}>
                Sign out
              </button>
            ) : null}
          </div>
        ) : null}
      </nav>
      <main>
        <ErrorBox error={error} />
        {page}
      </main>
    </div>
  );
}
