import type { AuditItem } from '@mutual/sdk/contract';
import { Empty, formatTime } from '../app/index.js';

/** Audit records as a table; details as compact JSON. */
export function AuditTable({ items }: { items: readonly AuditItem[] }) {
  if (items.length === 0) return <Empty title="No audit records." />;
  return (
    <table className="audit">
      <thead>
        <tr>
          <th>#</th>
          <th>Time</th>
          <th>Actor</th>
          <th>Action</th>
          <th>Subject</th>
          <th>Details</th>
        </tr>
      </thead>
      <tbody>
        {items.map((a) => (
          <tr key={a.seq} data-action={a.action}>
            <td>{a.seq}</td>
            <td>{formatTime(a.at)}</td>
            <td>{a.actor}</td>
            <td>{a.action}</td>
            <td>
              <code>{a.subject}</code>
            </td>
            <td className="wrap details" title={JSON.stringify(a.details, null, 2)}>
              {JSON.stringify(a.details)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
