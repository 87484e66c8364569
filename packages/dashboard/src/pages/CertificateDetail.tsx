import { useState } from 'react';
import { REVOCATION_REASONS, type RevocationReason } from '@mutual/sdk/contract';
import { api } from '../api/index.js';
import { ErrorBox, Link, Section, StateBadge, formatTime, relative, useLoad } from '../app/index.js';
import { AuditTable } from './AuditTable.js';

/** One certificate: names, validity, fingerprints, extensions, chain, audit history; revoke with a reason. */
export function CertificateDetail({ serial }: { serial: string }) {
  const detail = useLoad(() => api.certificate(serial), [serial]);
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState<RevocationReason>('unspecified');
  const [revokeError, setRevokeError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const d = detail.data;

  const revoke = async (): Promise<void> => {
    setBusy(true);
    setRevokeError(undefined);
    try {
      await api.revoke(serial, reason);
      setConfirming(false);
      detail.reload();
    } catch (error) {
      setRevokeError(error instanceof Error ? error : new Error(String(error)));
    } finally {
      setBusy(false);
    }
  };
  const revocable = d !== undefined && (d.summary.state === 'valid' || d.summary.state === 'expiring');

  return (
    <div className="page">
      <p>
        <Link to="certificates">← Certificates</Link>
      </p>
      <h1>
        Certificate <code>{serial}</code>
      </h1>
      <ErrorBox error={detail.error} />
      {d === undefined ? null : (
        <>
          <Section
            title="Summary"
            actions={
              revocable ? (
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    setConfirming(true);
                  }}
                >
                  Revoke…
                </button>
              ) : null
            }
          >
            <dl className="facts">
              <dt>State</dt>
              <dd>
                <StateBadge state={d.summary.state} />
                {d.summary.revokedAt === null
                  ? null
                  : ` since ${formatTime(d.summary.revokedAt)} (${d.summary.revocationReason ?? 'unspecified'})`}
              </dd>
              <dt>Identity</dt>
              <dd>{d.summary.identity ?? '—'}</dd>
              <dt>Subject</dt>
              <dd>{d.summary.subject}</dd>
              <dt>Issuer</dt>
              <dd>{d.issuer}</dd>
              <dt>Profile</dt>
              <dd>{d.summary.profile}</dd>
              <dt>Key</dt>
              <dd>{d.keyType}</dd>
              <dt>Valid</dt>
              <dd>
                {formatTime(d.summary.notBefore)} → {formatTime(d.summary.notAfter)} ({relative(d.summary.notAfter)})
              </dd>
              <dt>Requested by</dt>
              <dd>{d.summary.requester}</dd>
              <dt>SHA-256</dt>
              <dd>
                <code className="wrap">{d.fingerprints.sha256 ?? '—'}</code>
              </dd>
              <dt>SPKI SHA-256</dt>
              <dd>
                <code className="wrap">{d.fingerprints.spkiSha256 ?? '—'}</code>
              </dd>
            </dl>
          </Section>
          <Section title="Subject alternative names">
            <ul>
              {(['dns', 'ip', 'uri', 'email'] as const).flatMap((k) =>
                d.summary.sans[k].map((v) => (
                  <li key={`${k}:${v}`}>
                    <span className="muted">{k.toUpperCase()}</span> {v}
                  </li>
                )),
              )}
            </ul>
          </Section>
          <Section title="Extensions">
            <table>
              <thead>
                <tr>
                  <th>Extension</th>
                  <th>Critical</th>
                  <th>Value</th>
                </tr>
              </thead>
              <tbody>
                {d.extensions.map((e) => (
                  <tr key={e.oid}>
                    <td title={e.oid}>{e.name}</td>
                    <td>{e.critical ? 'yes' : 'no'}</td>
                    <td className="wrap">{e.value}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
          <Section title="Chain">
            {d.chain.map((pem, i) => (
              <details key={i}>
                <summary>{i === 0 ? 'Leaf' : i === d.chain.length - 1 ? 'Root' : 'Intermediate'}</summary>
                <pre>{pem}</pre>
              </details>
            ))}
          </Section>
          <Section title="Where it is used">
            {d.places.length === 0 ? (
              <p className="muted">Not reported in use by any gateway or agent yet.</p>
            ) : (
              <ul>
                {d.places.map((p) => (
                  <li key={`${p.where}/${p.role}`}>
                    {p.where} ({p.role}), last seen {relative(p.lastSeen)}
                  </li>
                ))}
              </ul>
            )}
          </Section>
          <Section title="Audit history">
            <AuditTable items={d.audit} />
          </Section>
        </>
      )}
      {confirming ? (
        <div className="overlay">
          <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="revoke-title">
            <h2 id="revoke-title">Revoke certificate {serial}?</h2>
            <p>
              Revocation is final: the CRL, OCSP and the gateways' revocation feed refuse this certificate from now on.
            </p>
            <label>
              Reason
              <select
                name="reason"
                value={reason}
                onChange={(e) => {
                  setReason(e.target.value as RevocationReason);
                }}
              >
                {REVOCATION_REASONS.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
            <ErrorBox error={revokeError} />
            <div className="buttons">
              <button
                type="button"
                onClick={() => {
                  setConfirming(false);
                }}
              >
                Cancel
              </button>
              <button type="button" className="danger" disabled={busy} onClick={() => void revoke()}>
                Revoke certificate
              </button>
            </div>
          </div>
        </div>
      ) : null}
    </div>
  );
}
