import type { ReactNode } from 'react';

/** What a page shows when there is nothing to show, and why. */
export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" role="status">
      <strong>{title}</strong>
      {children === undefined ? null : <p>{children}</p>}
    </div>
  );
}

export function ErrorBox({ error }: { error: Error | undefined }) {
  if (error === undefined) return null;
  const code = (error as { code?: string }).code;
  return (
    <div className="error" role="alert">
      {code === undefined ? null : <code>{code}</code>} {error.message}
    </div>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge state-${state}`}>{state}</span>;
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card">
      <header>
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}
