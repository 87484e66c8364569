/** The doctor's steps in order — TCP, TLS, server chain, CertificateRequest, client material, mTLS, HTTP — into one report. */
import { explainTlsError, oneLine, type TlsFailure } from './alerts.js';
import {
  checkCrls,
  clientFacts,
  fetchCrl,
  issuedByAcceptable,
  oneLineDn,
  type ClientFacts,
  type RevocationCheck,
} from './client-checks.js';
import { checkOcsp } from './ocsp.js';
import type { Material } from './material.js';
import { opensslProbe } from './openssl.js';
import { tcpConnect, tlsExchange } from './probe.js';
import { judgeServerChain, summarize } from './server-checks.js';
import type { Target } from './target.js';
import type { DoctorReport, Finding, FindingId, HandshakeInfo, Step } from './types.js';

export interface DoctorInput {
  readonly target: Target;
  readonly material: Material;
  readonly now: Date;
  readonly timeoutMs: number;
  /** The openssl binary used to read the CertificateRequest (default `openssl`). */
  readonly openssl?: string;
  /** How the user passes client material, for the fixes (e.g. `--cert a.crt --key a.key`). */
  readonly clientFlags: string;
}

const CLIENT_FIX_NEW = (name: string): string =>
  `get a new client certificate: \`mutual cert issue ${name} --profile client\` (local CA) or \`mutual cert request ${name} --token <token>\` (online CA)`;

function networkFinding(code: string | undefined, target: Target, message: string): Finding {
  const where = `${target.host}:${target.port}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return {
      id: 'name-not-resolved',
      severity: 'error',
      side: 'network',
      summary: `"${target.host}" does not resolve to an address.`,
      explanation: `DNS has no address for ${target.host} (${message}).`,
      fix: `Check the spelling, or test resolution with \`getent hosts ${target.host}\`.`,
    };
  }
  if (code === 'ETIMEDOUT') {
    return {
      id: 'connect-timeout',
      severity: 'error',
      side: 'network',
      summary: `Nothing answered at ${where}.`,
      explanation: `The TCP connection neither succeeded nor was refused (${message}): a firewall drops the packets, or the host is down.`,
      fix: `Check the host is up and the port is open between here and there (\`nc -vz ${target.host} ${target.port}\`).`,
    };
  }
  return {
    id: 'connection-refused',
    severity: 'error',
    side: 'network',
    summary: `Nothing is listening on ${where}.`,
    explanation: `The host refused the TCP connection (${code ?? message}): no server runs on that port, or it listens on another address.`,
    fix: `Start the server, or check its address and port: \`ss -ltnp | grep :${target.port}\` on the server.`,
  };
}

function handshakeFinding(f: TlsFailure, target: Target, serverHello: boolean): Finding {
  if (f.kind === 'not-tls') {
    return {
      id: 'not-tls',
      severity: 'error',
      side: 'server',
      summary: `${target.host}:${target.port} answers, but not with TLS.`,
      explanation: `The first bytes back were not a TLS record (${f.code}): the port serves plain HTTP or another protocol.`,
      fix: `Use the server's TLS port, or put the mTLS gateway in front of it: \`mutual gateway --config gateway.yaml\`.`,
    };
  }
  if (f.kind === 'protocol-version') {
    return {
      id: 'tls-version-mismatch',
      severity: 'error',
      side: 'server',
      summary: 'Client and server have no TLS version in common.',
      explanation: `${f.words} (${f.alert !== undefined ? `alert ${f.alert}, ` : ''}${f.code}). mutual speaks TLS 1.2 and 1.3; older versions are broken and refused.`,
      fix: 'Enable TLS 1.2 and 1.3 on the server (nginx `ssl_protocols TLSv1.2 TLSv1.3;`, openssl s_server without `-tls1_1`).',
    };
  }
  if (f.kind === 'no-shared-cipher' || (f.kind === 'handshake-failure' && !serverHello)) {
    return {
      id: 'tls-cipher-mismatch',
      severity: 'error',
      side: 'server',
      summary: 'The server refused the ClientHello: no cipher suite in common.',
      explanation: `${f.words} (${f.alert !== undefined ? `alert ${f.alert}, ` : ''}${f.code}). The server answered before sending its certificate, so it found nothing acceptable in what this client offers (TLS 1.3 suites and ECDHE with AES-GCM or ChaCha20 for TLS 1.2).`,
      fix: 'Allow a modern suite on the server, e.g. `ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256` for TLS 1.2 (nginx `ssl_ciphers`, s_server `-cipher`), or enable TLS 1.3.',
    };
  }
  return {
    id: 'tls-handshake-failed',
    severity: 'error',
    side: f.refusedBy,
    summary: 'The TLS handshake failed.',
    explanation: oneLine(f),
    fix: `Look at the server's log for the same moment; \`openssl s_client -connect ${target.host}:${target.port} -msg\` shows the exchange.`,
  };
}

/** The finding an alert from the server means for the client certificate. */
function alertFinding(f: TlsFailure, facts: ClientFacts, caNames: readonly string[], input: DoctorInput): Finding {
  const id = facts.identity;
  const issuer = oneLineDn(facts.leaf.issuer);
  const by = `The server refused the handshake: ${f.words} (${f.alert !== undefined ? `TLS alert ${f.alert}, ` : ''}${f.code}).`;
  switch (f.kind) {
    case 'unknown-ca':
      return {
        id: 'client-cert-unknown-ca',
        severity: 'error',
        side: 'client',
        summary: `The server does not trust "${issuer}", the CA of your certificate.`,
        explanation: `${by} ${caNames.length > 0 ? `It accepts certificates from: ${caNames.join('; ')}.` : 'It did not list the CAs it accepts.'}`,
        fix: `Use a certificate from a CA the server trusts — ${CLIENT_FIX_NEW(id)} against that CA — or add your CA's root to the server's trust bundle (gateway \`clientAuth.trustBundles\`).`,
      };
    case 'certificate-expired':
      return {
        id: 'client-cert-expired',
        severity: 'error',
        side: 'client',
        summary: 'The server says your client certificate has expired.',
        explanation: `${by} Your certificate is valid until ${new Date(facts.leaf.validTo).toISOString()}; check the server's clock if that is still in the future.`,
        fix: `${CLIENT_FIX_NEW(id)}; let the renewal agent keep it fresh.`,
      };
    case 'certificate-revoked':
      return {
        id: 'client-cert-revoked',
        severity: 'error',
        side: 'client',
        summary: 'The server says your client certificate is revoked.',
        explanation: `${by} A revoked certificate cannot be renewed.`,
        fix: `${CLIENT_FIX_NEW(id)}.`,
      };
    case 'unsupported-certificate':
      return {
        id: 'client-cert-wrong-eku',
        severity: 'error',
        side: 'client',
        summary: 'The server refused your certificate for client use.',
        explanation: `${by} Its extended key usage is ${facts.eku.length > 0 ? facts.eku.join(', ') : 'absent'}; a client certificate needs clientAuth.`,
        fix: `Issue it with the client profile: \`mutual cert issue ${id} --profile client\` (or \`--profile both\`).`,
      };
    case 'certificate-required':
      return {
        id: 'client-cert-refused',
        severity: 'error',
        side: 'client',
        summary: 'The server says no client certificate arrived.',
        explanation: by,
        fix: `Check that ${input.clientFlags} name the certificate and its key.`,
      };
    default:
      return {
        id: 'client-cert-refused',
        severity: 'error',
        side: 'server',
        summary: `The server refused your client certificate (${id}).`,
        explanation:
          f.kind === 'closed'
            ? `The handshake completed, then the server refused the certificate: a mutual gateway answers 403 ERR_GATEWAY_CERTIFICATE_REFUSED and closes the connection when its own verifier, a pin or its revocation check refuses it (other servers may just close). The reason is in its audit log (type handshake, decision refused).`
            : `${by} The local checks found nothing wrong with the certificate, so the reason is on the server: its log says why.`,
        fix: `Read the server's log or the gateway audit (\`grep '"decision":"deny"' gateway-audit.jsonl\`), and verify your chain as the gateway does: \`mutual verify <chain.pem> --ca <root.pem> --purpose client\`.`,
      };
  }
}

const ALERT_ID: Partial<Record<TlsFailure['kind'], FindingId>> = {
  'unknown-ca': 'client-cert-unknown-ca',
  'certificate-expired': 'client-cert-expired',
  'certificate-revoked': 'client-cert-revoked',
  'unsupported-certificate': 'client-cert-wrong-eku',
};

/**
 * The server's HTTP Date header measures the clock skew directly: when its certificate is not yet
 * valid (or expired) and the two clocks differ by more than a minute, say by how much and whose clock is off.
 */
function refineSkew(findings: Finding[], dateHeader: string | undefined, now: Date): void {
  const serverNow = dateHeader === undefined ? Number.NaN : Date.parse(dateHeader);
  if (Number.isNaN(serverNow)) return;
  const skewMs = serverNow - now.getTime();
  if (Math.abs(skewMs) < 60_000) return;
  const minutes = Math.round(Math.abs(skewMs) / 60_000);
  const i = findings.findIndex((f) => f.id === 'server-cert-not-yet-valid' || f.id === 'server-cert-expired');
  const f = findings[i];
  if (f === undefined) return;
  findings[i] = {
    ...f,
    explanation: `${f.explanation} Measured: the server's clock (HTTP Date ${dateHeader ?? ''}) is ${minutes} min ${skewMs > 0 ? 'ahead of' : 'behind'} this machine's.`,
    fix: `Fix the clock that is wrong — the server's is ${minutes} min ${skewMs > 0 ? 'ahead' : 'behind'} of this machine's — with NTP (\`timedatectl set-ntp true\`, \`chronyc makestep\`) on that machine, then reissue or retry.`,
  };
}

export async function diagnose(input: DoctorInput): Promise<DoctorReport> {
  const { target, material, now } = input;
  const steps: Step[] = [];
  const findings: Finding[] = [];
  const handshake: HandshakeInfo = { serverChain: [], acceptableCaNames: [] };
  const state: { http?: DoctorReport['http'] } = {};
  const report = (): DoctorReport => ({
    target: target.label,
    ok: findings.every((f) => f.severity !== 'error') && steps.every((s) => s.status !== 'failed'),
    steps,
    findings,
    handshake,
    http: state.http,
  });

  // 1. TCP
  const tcp = await tcpConnect(target, input.timeoutMs);
  if (!tcp.ok) {
    steps.push({ name: 'tcp', status: 'failed', detail: `${tcp.code ?? ''} ${tcp.message ?? ''}`.trim() });
    findings.push(networkFinding(tcp.code, target, tcp.message ?? ''));
    return report();
  }
  steps.push({ name: 'tcp', status: 'ok', detail: `connected to ${tcp.address ?? ''}` });

  // 2. TLS without a client certificate, and openssl's view of the same exchange.
  const [probe, ossl] = await Promise.all([
    tlsExchange(target, { timeoutMs: input.timeoutMs, settleMs: 0 }),
    opensslProbe(target, input.timeoutMs, input.openssl, tcp.ip),
  ]);
  let chain: Buffer[] = probe.chain;
  if (probe.secure) {
    handshake.protocol = probe.protocol;
    handshake.cipher = probe.cipher;
    handshake.group = probe.group;
    steps.push({
      name: 'tls',
      status: 'ok',
      detail: [probe.protocol, probe.cipher, probe.group].filter((x) => x !== undefined).join(', '),
    });
  } else {
    const f = explainTlsError(probe.error);
    const sawCertificate = ossl.serverHello && ossl.chainPem.length > 0;
    if (sawCertificate && ['handshake-failure', 'certificate-required', 'closed', 'other'].includes(f.kind)) {
      // TLS 1.2: the server asked for a certificate and ended the handshake when none came.
      chain = ossl.chainPem.map((p) => Buffer.from(p.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
      steps.push({
        name: 'tls',
        status: 'ok',
        detail: `server hello and certificate received; without a client certificate the server ends the handshake (${f.code})`,
      });
    } else {
      steps.push({ name: 'tls', status: 'failed', detail: oneLine(f) });
      findings.push(handshakeFinding(f, target, ossl.serverHello));
      return report();
    }
  }

  // 3. The server's chain, judged offline by mutual's verifier.
  handshake.serverChain = chain.map(summarize);
  const caFlag = '--ca';
  const judged = judgeServerChain(chain, material, target, now, caFlag);
  steps.push({ name: 'server-certificate', status: judged.ok ? 'ok' : 'failed', detail: judged.detail });
  findings.push(...judged.findings);

  // 4. Did the server ask for a client certificate, and from which CAs?
  handshake.certificateRequested = ossl.available ? ossl.certificateRequested : undefined;
  handshake.acceptableCaNames = ossl.caNames;
  if (!ossl.available) {
    steps.push({
      name: 'client-auth-request',
      status: 'skipped',
      detail: 'openssl not found: cannot see whether the server asks for a client certificate',
    });
  } else if (ossl.certificateRequested) {
    steps.push({
      name: 'client-auth-request',
      status: 'ok',
      detail:
        ossl.caNames.length > 0
          ? `the server asks for a client certificate from: ${ossl.caNames.join('; ')}`
          : 'the server asks for a client certificate (no CA names listed)',
    });
  } else {
    steps.push({
      name: 'client-auth-request',
      status: 'failed',
      detail: 'the server does not ask for a client certificate',
    });
    findings.push({
      id: 'server-did-not-ask',
      severity: 'error',
      side: 'server',
      summary: 'The server does not ask for a client certificate: this is not mutual TLS.',
      explanation:
        'Its handshake has no CertificateRequest, so a client never sends its certificate and the server cannot know who is calling. Any client, with or without a certificate, gets the same treatment.',
      fix: 'Turn on client authentication on the server: gateway `clientAuth.trustBundles: [root.pem]`, nginx `ssl_verify_client on;` with `ssl_client_certificate`, openssl s_server `-Verify 1 -CAfile root.pem`.',
    });
  }

  // 5. The client's own material.
  if (material.chainPem === undefined || material.keyPem === undefined) {
    steps.push({ name: 'client-certificate', status: 'skipped', detail: 'no client certificate given' });
    if (ossl.certificateRequested || (!probe.secure && chain.length > 0) || probe.errorAfterHandshake) {
      findings.push({
        id: 'client-cert-missing',
        severity: 'error',
        side: 'client',
        summary: 'The server asks for a client certificate and you did not give one.',
        explanation: `Without one the server ends the handshake${ossl.caNames.length > 0 ? `; it accepts certificates from ${ossl.caNames.join('; ')}` : ''}.`,
        fix: 'Pass your identity: `--cert client.crt --key client.key` or `--identity NAME`; or get one with `mutual cert issue <name> --profile client`.',
      });
    }
    return report();
  }
  const facts = clientFacts(material.chainPem, material.keyPem, now);
  handshake.clientIdentity = facts.identity;
  const clientFindings: Finding[] = [];
  if (!facts.keyMatches) {
    clientFindings.push({
      id: 'client-key-mismatch',
      severity: 'error',
      side: 'client',
      summary: 'Your private key does not belong to your certificate.',
      explanation: `The public key in ${material.certFile ?? 'the certificate'} is not the one of ${material.keyFile ?? 'the key'}; the handshake signature would not verify, so the server would refuse it (decrypt_error).`,
      fix: `Use the key written beside the certificate (\`mutual cert issue\` writes <name>.crt and <name>.key), or ${CLIENT_FIX_NEW(facts.identity)}.`,
    });
  }
  if (facts.expired) {
    clientFindings.push({
      id: 'client-cert-expired',
      severity: 'error',
      side: 'client',
      summary: `Your client certificate expired on ${new Date(facts.leaf.validTo).toISOString()}.`,
      explanation: `By this machine's clock it is ${now.toISOString()}. An expired certificate cannot be renewed by presenting it.`,
      fix: `${CLIENT_FIX_NEW(facts.identity)}; the renewal agent renews at 2/3 of the lifetime so this does not happen again.`,
    });
  }
  if (facts.notYetValid) {
    const minutes = Math.ceil((new Date(facts.leaf.validFrom).getTime() - now.getTime()) / 60_000);
    clientFindings.push({
      id: 'client-cert-not-yet-valid',
      severity: 'error',
      side: 'client',
      summary: `Your client certificate is not valid until ${new Date(facts.leaf.validFrom).toISOString()} (${minutes} min from now).`,
      explanation: `Either this machine's clock or the CA's is off by at least ${minutes} min.`,
      fix: 'Compare `date -u` here, on the CA and on the server; fix the wrong one with NTP (`timedatectl set-ntp true`).',
    });
  }
  if (facts.clientAuth === false) {
    clientFindings.push({
      id: 'client-cert-wrong-eku',
      severity: 'error',
      side: 'client',
      summary: 'Your certificate is not for client authentication.',
      explanation: `Its extended key usage is ${facts.eku.join(', ')} and lacks clientAuth, so servers refuse it as a client certificate.`,
      fix: `Issue it with the client profile: \`mutual cert issue ${facts.identity} --profile client\` (or \`--profile both\`).`,
    });
  }
  if (ossl.caNames.length > 0 && !issuedByAcceptable(facts, ossl.caNames)) {
    clientFindings.push({
      id: 'client-cert-unknown-ca',
      severity: 'error',
      side: 'client',
      summary: `Your certificate is issued by "${oneLineDn(facts.leaf.issuer)}", which is not among the CAs the server accepts.`,
      explanation: `The server accepts certificates from: ${ossl.caNames.join('; ')}. Yours chains through ${facts.chain.map((c) => oneLineDn(c.issuer)).join(' → ')}.`,
      fix: `Use a certificate from one of those CAs — ${CLIENT_FIX_NEW(facts.identity)} there — or add your CA's root to the server's trust bundle.`,
    });
  }
  // Revocation: the CRLs given, else the ones the certificate points to.
  let crls = material.crls;
  let crlSource = '--crl';
  if (crls.length === 0 && facts.crlUrls.length > 0) {
    crlSource = facts.crlUrls.join(', ');
    crls = [];
    for (const url of facts.crlUrls) {
      const got = await fetchCrl(url, input.timeoutMs).catch(() => undefined);
      if (got !== undefined) crls.push(got);
    }
  }
  let rc: RevocationCheck | undefined;
  if (crls.length > 0) rc = await checkCrls(facts, crls, `the CRL from ${crlSource}`);
  // OCSP (the AIA's responder) when no CRL settled it.
  const ocspUrl = facts.ocspUrls[0];
  if ((rc === undefined || !rc.checked) && ocspUrl !== undefined) {
    const viaOcsp = await checkOcsp(facts, ocspUrl, input.timeoutMs).catch((err: unknown): RevocationCheck => ({
      revoked: false,
      checked: false,
      source: `OCSP ${ocspUrl}`,
      note: err instanceof Error ? err.message : String(err),
    }));
    if (viaOcsp.checked || rc === undefined) rc = viaOcsp;
  }
  let revocationDetail = 'revocation not checked (no CRL given, no CRL distribution point or OCSP responder in it)';
  if (rc !== undefined) {
    if (rc.revoked) {
      clientFindings.push({
        id: 'client-cert-revoked',
        severity: 'error',
        side: 'client',
        summary: `Your client certificate is revoked${rc.revokedAt !== undefined ? ` (since ${rc.revokedAt})` : ''}.`,
        explanation: `${rc.source.charAt(0).toUpperCase()}${rc.source.slice(1)} says serial ${facts.leaf.serialNumber.toLowerCase()} is revoked (answer signed by your issuer). Revoked certificates are refused by every mutual gateway and cannot be renewed.`,
        fix: `${CLIENT_FIX_NEW(facts.identity)}.`,
      });
    }
    revocationDetail = rc.revoked
      ? `REVOKED per ${rc.source}`
      : rc.checked
        ? `not revoked per ${rc.source}`
        : `revocation unknown: ${rc.source}: ${rc.note ?? 'no verified answer'}`;
    if (!rc.checked) {
      findings.push({
        id: 'revocation-unchecked',
        severity: 'warning',
        side: 'client',
        summary: 'Revocation of your certificate could not be checked.',
        explanation: `${rc.source} gave no usable answer: ${rc.note ?? 'unknown'}.`,
        fix: 'Pass the current CRL of your issuer with `--crl <file>` (a mutual CA serves every one of its CRLs at /v1/crl/all).',
      });
    }
  }
  findings.push(...clientFindings);
  steps.push({
    name: 'client-certificate',
    status: clientFindings.length > 0 ? 'failed' : 'ok',
    detail: `${facts.identity}, issued by ${oneLineDn(facts.leaf.issuer)}, valid until ${new Date(facts.leaf.validTo).toISOString()}; ${revocationDetail}`,
  });
  if (!facts.keyMatches) {
    steps.push({ name: 'mtls', status: 'skipped', detail: 'the key does not match the certificate' });
    return report();
  }

  // 6. The whole mTLS exchange, then one HTTP request for URLs.
  const request = target.url ? { method: 'GET', path: `${target.url.pathname}${target.url.search}` } : undefined;
  const ex = await tlsExchange(target, {
    cert: material.chainPem,
    key: material.keyPem,
    timeoutMs: input.timeoutMs,
    request,
  });
  if (ex.secure) {
    handshake.protocol = ex.protocol;
    handshake.cipher = ex.cipher;
    handshake.group = ex.group;
  }
  // A mutual gateway that refuses the certificate after the handshake says so with one 403 and closes.
  const certificateRefused =
    ex.response?.status === 403 && (ex.response.body ?? '').includes('ERR_GATEWAY_CERTIFICATE_REFUSED');
  const error: unknown = certificateRefused
    ? Object.assign(new Error('the gateway refused the client certificate after the handshake'), {
        code: 'ECONNRESET',
      })
    : ex.error;
  if (error !== undefined) {
    const f = explainTlsError(error);
    steps.push({ name: 'mtls', status: 'failed', detail: oneLine(f) });
    if (f.refusedBy === 'client' && !ex.secure) {
      findings.push(handshakeFinding(f, target, true));
      return report();
    }
    const id = ALERT_ID[f.kind];
    const hasClientError = clientFindings.some((x) => x.severity === 'error');
    if ((id !== undefined && !findings.some((x) => x.id === id)) || (id === undefined && !hasClientError)) {
      findings.push(alertFinding(f, facts, ossl.caNames, input));
    }
    return report();
  }
  steps.push({
    name: 'mtls',
    status: 'ok',
    detail: `handshake completed as ${facts.identity} (${[ex.protocol, ex.cipher].filter(Boolean).join(', ')})${
      judged.ok ? '' : "; the server's certificate was NOT trusted (a normal client stops here)"
    }`,
  });
  if (!ex.response) return report();
  state.http = { status: ex.response.status, date: ex.response.headers['date'] };
  refineSkew(findings, ex.response.headers['date'], now);
  const status = ex.response.status;
  const path = request?.path ?? '/';
  if (status < 400) {
    steps.push({ name: 'http', status: 'ok', detail: `GET ${path} → ${status}` });
    return report();
  }
  steps.push({ name: 'http', status: 'failed', detail: `GET ${path} → ${status}` });
  if (status === 403) {
    findings.push({
      id: 'http-forbidden',
      severity: 'error',
      side: 'server',
      summary: `The server accepted your certificate but forbids ${facts.identity} on ${path} (403).`,
      explanation: `The mTLS handshake worked: you are authenticated as ${facts.identity}. The route's policy does not allow that identity (a mutual gateway audits this as identity-not-allowed).`,
      fix: `Allow it on the route in the gateway configuration — \`allow: [{ spiffeId: ${facts.identity} }]\` (or \`dns:\`) — and reload (SIGHUP), or call with an identity the route admits.`,
    });
  } else if (status === 401) {
    findings.push({
      id: 'http-unauthorized',
      severity: 'error',
      side: 'server',
      summary: `The service answered 401 to ${facts.identity} on ${path}.`,
      explanation: 'TLS worked; the application behind it wants other credentials as well (a token or a login).',
      fix: 'Add the credentials the service expects (`mutual curl -H "Authorization: Bearer …"`).',
    });
  } else {
    findings.push({
      id: 'http-error',
      severity: 'error',
      side: 'server',
      summary: `The server answered ${status} to GET ${path}.`,
      explanation: 'The mTLS exchange worked; the HTTP request itself failed.',
      fix: `See the answer with \`mutual curl -i ${target.label} ${input.clientFlags}\`.`,
    });
  }
  return report();
}
