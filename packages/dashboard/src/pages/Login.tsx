import { useEffect, useState } from 'react';
import type { SessionResponse } from '@mutual/sdk/contract';
import { api } from '../api/index.js';
import { ErrorBox, navigate } from '../app/index.js';

/**
 * /ui/login#<secret>: the secret is read from the fragment (never sent to the server in a URL,
 * never in a Referer), removed from the address bar and history at once, then exchanged for a
 * session cookie by POST. Without a secret: how to sign in.
 */
export function Login({ onSession }: { onSession: (s: SessionResponse) => void }) {
  const [error, setError] = useState<Error>();
  const [secret] = useState(() => window.location.hash.slice(1));
  useEffect(() => {
    if (secret === '') return;
    window.history.replaceState(null, '', '/ui/login');
    api
      .login(secret)
      .then((s) => {
        onSession(s);
        navigate('', true);
      })
      .catch((err: unknown) => {
        setError(err instanceof Error ? err : new Error(String(err)));
      });
  }, [secret, onSession]);
  return (
    <div className="page login">
      <h1>Sign in to mutual</h1>
      {secret !== '' && error === undefined ? <p>Signing in…</p> : null}
      <ErrorBox error={error} />
      <p>The dashboard is for the CA's admins. Sign in either way:</p>
      <ul>
        <li>
          with the <strong>admin client certificate</strong> (<code>admin/admin.crt</code> and <code>admin.key</code> of
          the CA directory) imported into this browser, then reload;
        </li>
        <li>
          with a <strong>one-time login link</strong>: <code>mutual up</code> and{' '}
          <code>mutual ca serve --login-link</code> print one in the terminal. A link works once, for 15 minutes.
        </li>
      </ul>
    </div>
  );
}
