import { useState, type SyntheticEvent } from 'react';
import { api } from '../api/index.js';
import { ErrorBox, useLoad } from '../app/index.js';
import { AuditTable } from './AuditTable.js';

const PAGE = 100;

/** The audit log, newest first, with the verdict of verifying the whole hash chain. */
export function Audit() {
  const [action, setAction] = useState('');
  const [applied, setApplied] = useState('');
  const [before, setBefore] = useState<number>();
  const log = useLoad(
    () =>
      api.audit({
        limit: PAGE,
        ...(applied === '' ? {} : { action: applied }),
        ...(before === undefined ? {} : { before }),
      }),
    [applied, before],
  );
  const chain = log.data?.chain;
  const items = log.data?.items ?? [];
  const last = items[items.length - 1];
  const submit = (event: SyntheticEvent): void => {
    event.preventDefault();
    setBefore(undefined);
    setApplied(action.trim());
  };
  return (
    <div className="page">
      <h1>Audit log</h1>
      {chain === undefined ? null : chain.ok ? (
        <div className="verdict ok" role="status" data-chain="ok">
          Chain verified: all {chain.records} records intact (hash-chained, nothing edited, deleted or reordered).
        </div>
      ) : (
        <div className="verdict broken" role="alert" data-chain="broken">
          Chain BROKEN at record {chain.brokenAt}: {chain.reason}
        </div>
      )}
      <form className="filters" onSubmit={submit}>
        <label>
          Action
          <input
            name="action"
            placeholder="certificate.revoke"
            value={action}
            onChange={(e) => {
              setAction(e.target.value);
            }}
          />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={log.error} />
      <AuditTable items={items} />
      <div className="buttons">
        {before === undefined ? null : (
          <button
            type="button"
            onClick={() => {
              setBefore(undefined);
            }}
          >
            Newest
          </button>
        )}
        {items.length < PAGE || last === undefined ? null : (
          <button
            type="button"
            onClick={() => {
              setBefore(last.seq);
            }}
          >
            Older
          </button>
        )}
      </div>
    </div>
  );
}
