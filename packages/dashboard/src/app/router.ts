import { useEffect, useState } from 'react';

/** Where the app is: the path under /ui without the prefix ('' is the overview) and the query. */
export interface Route {
  readonly path: string;
  readonly params: URLSearchParams;
}

const PREFIX = '/ui/';

export function currentRoute(): Route {
  const { pathname, search } = window.location;
  const path = pathname.startsWith(PREFIX) ? decodeURIComponent(pathname.slice(PREFIX.length)).replace(/\/$/, '') : '';
  return { path, params: new URLSearchParams(search) };
}

const listeners = new Set<() => void>();

/** `certificates/ab12?x=1` → `/ui/certificates/ab12?x=1`. */
export function href(to: string): string {
  const q = to.indexOf('?');
  const path = q < 0 ? to : to.slice(0, q);
  const query = q < 0 ? '' : to.slice(q);
  return `${PREFIX}${path.split('/').map(encodeURIComponent).join('/')}${query}`;
}

/** Goes to a route in this page (history.pushState); `replace` leaves no history entry. */
export function navigate(to: string, replace = false): void {
  if (replace) window.history.replaceState(null, '', href(to));
  else window.history.pushState(null, '', href(to));
  for (const l of listeners) l();
}

export function useRoute(): Route {
  const [, setHref] = useState(() => window.location.href);
  useEffect(() => {
    const update = (): void => {
      setHref(window.location.href);
    };
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return currentRoute();
}
