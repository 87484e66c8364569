import { useEffect, useRef, useState } from 'react';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  reload(): void;
}

/** Loads data when `deps` change, optionally again every `pollMs` (live pages). */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[], pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let live = true;
    const once = (): void => {
      latest
        .current()
        .then((value) => {
          if (!live) return;
          setData(value);
          setError(undefined);
        })
        .catch((err: unknown) => {
          if (live) setError(err instanceof Error ? err : new Error(String(err)));
        })
        .finally(() => {
          if (live) setLoading(false);
        });
    };
    setLoading(true);
    once();
    const timer = pollMs === undefined ? undefined : window.setInterval(once, pollMs);
    return () => {
      live = false;
      if (timer !== undefined) window.clearInterval(timer);
    };
  }, [...deps, tick, pollMs]);
  return {
    data,
    error,
    loading,
    reload: () => {
      setTick((t) => t + 1);
    },
  };
}
