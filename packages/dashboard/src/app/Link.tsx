import type { MouseEvent, ReactNode } from 'react';
import { href, navigate } from './router.js';

/** An in-app link: a real href (open in a new tab works), navigation without a reload. */
export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string | undefined }) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>): void => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={href(to)} onClick={onClick} className={className}>
      {children}
    </a>
  );
}
