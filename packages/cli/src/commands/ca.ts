import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { InitCaOptions, PassphraseChoice } from '@mutual/server';
import { loadServer } from '../server.js';
import { registerCaHsmCommands } from './ca-hsm.js';
import { MutualError, bootstrapCa, decodeOnePem, formatDuration, type KeyType } from '@mutual/sdk';
import { caClientFrom, saveContext, withClientOptions, type ClientOptions } from '../client-context.js';
import { parseListen, waitForStop } from '../process.js';
import type { CliContext } from '../context.js';
import { caDir, collect, keyTypeArg } from '../options.js';
import { colonHex, json, table } from '../output/index.js';

interface InitOptions {
  dir?: string;
  name: string;
  keyType: KeyType;
  passphraseFile?: string;
  passphraseEnv?: string;
  insecureNoPassphrase?: boolean;
  trustDomain: string;
  allowDns?: string[];
  postgresEnv?: string;
  pkcs11Module?: string;
  pkcs11Token?: string;
  pkcs11PinFile?: string;
  pkcs11PinEnv?: string;
  pkcs11RootKey?: string;
  pkcs11IntermediateKey?: string;
  json?: boolean;
}

/** `--pkcs11-*` of `ca init`: all of module, token and one PIN source, or none. */
function pkcs11Choice(opts: InitOptions): NonNullable<InitCaOptions['pkcs11']> | undefined {
  const given = [
    opts.pkcs11Module,
    opts.pkcs11Token,
    opts.pkcs11PinFile,
    opts.pkcs11PinEnv,
    opts.pkcs11RootKey,
    opts.pkcs11IntermediateKey,
  ].some((x) => x !== undefined);
  if (!given) return undefined;
  const existing = opts.pkcs11RootKey !== undefined || opts.pkcs11IntermediateKey !== undefined;
  if (opts.pkcs11Module === undefined) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Keys on a token need --pkcs11-module.' });
  }
  if (existing && (opts.pkcs11RootKey === undefined || opts.pkcs11IntermediateKey === undefined)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Give both --pkcs11-root-key and --pkcs11-intermediate-key, or neither (new keys on --pkcs11-token).',
    });
  }
  if (!existing && opts.pkcs11Token === undefined) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message:
        'Name the token to make the keys on (--pkcs11-token), or existing keys (--pkcs11-root-key and --pkcs11-intermediate-key).',
    });
  }
  if ((opts.pkcs11PinFile === undefined) === (opts.pkcs11PinEnv === undefined)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Give the token PIN with one of --pkcs11-pin-file and --pkcs11-pin-env.',
    });
  }
  const common = {
    module: opts.pkcs11Module,
    pin: opts.pkcs11PinFile !== undefined ? { file: opts.pkcs11PinFile } : { env: opts.pkcs11PinEnv ?? '' },
  };
  return opts.pkcs11RootKey !== undefined && opts.pkcs11IntermediateKey !== undefined
    ? { ...common, keys: { root: opts.pkcs11RootKey, intermediate: opts.pkcs11IntermediateKey } }
    : { ...common, token: opts.pkcs11Token ?? '' };
}

export function registerCaCommands(program: Command, ctx: CliContext): void {
  const ca = program.command('ca').description('Create and inspect the certificate authority');

  ca.command('init')
    .description('Create a root and an intermediate CA, their encrypted keys, ca.yaml and the inventory database')
    .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
    .option('--name <name>', 'CA name used in the certificates', 'mutual')
    .option('--key-type <type>', 'CA key type: p256, p384, rsa2048, rsa3072, rsa4096, ed25519', keyTypeArg, 'p256')
    .option('--passphrase-file <file>', 'encrypt the CA keys with the passphrase in this file')
    .option('--passphrase-env <var>', 'encrypt the CA keys with the passphrase in this environment variable')
    .option('--insecure-no-passphrase', 'store the CA keys unencrypted (development only)')
    .option('--trust-domain <domain>', 'SPIFFE trust domain the name policy allows', 'mutual.local')
    .option('--allow-dns <pattern>', 'DNS pattern the policy allows (repeatable; replaces the defaults)', collect)
    .option(
      '--postgres-env <var>',
      'keep the inventory and audit trail in the PostgreSQL database whose connection string is in this environment variable (default: SQLite in the CA directory)',
    )
    .option('--pkcs11-module <path>', 'make the root and intermediate keys on a PKCS#11 token: the vendor library')
    .option('--pkcs11-token <label>', 'the label of the token to make the keys on')
    .option('--pkcs11-pin-file <file>', "the token's user PIN is in this file")
    .option('--pkcs11-pin-env <var>', "the token's user PIN is in this environment variable")
    .option(
      '--pkcs11-root-key <uri>',
      'use this key already on the token for the root (pkcs11: URI) instead of making one',
    )
    .option('--pkcs11-intermediate-key <uri>', 'use this key already on the token for the intermediate')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nWithout --passphrase-file/--passphrase-env a random passphrase is generated into <dir>/secrets/ca-passphrase (mode 0600).' +
        '\nWith --pkcs11-*, the root and intermediate keys are made on the token (sensitive, never extractable) and' +
        '\nca.yaml names them by pkcs11: URIs; the passphrase then encrypts only the token-signing key. Check a token' +
        '\nfirst with `mutual ca hsm check`.',
    )
    .action(async (opts: InitOptions) => {
      const pkcs11 = pkcs11Choice(opts);
      const chosen = [opts.passphraseFile, opts.passphraseEnv, opts.insecureNoPassphrase].filter(
        (x) => x !== undefined,
      );
      if (chosen.length > 1) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
          message: 'Choose one of --passphrase-file, --passphrase-env and --insecure-no-passphrase.',
        });
      }
      const passphrase: PassphraseChoice =
        opts.passphraseFile !== undefined
          ? { mode: 'file', file: opts.passphraseFile }
          : opts.passphraseEnv !== undefined
            ? { mode: 'env', env: opts.passphraseEnv }
            : opts.insecureNoPassphrase === true
              ? { mode: 'none' }
              : { mode: 'generate' };
      if (passphrase.mode === 'none') {
        ctx.stderr(
          '\n  WARNING: --insecure-no-passphrase stores the CA private keys UNENCRYPTED.\n' +
            '  Anyone who can read them can issue certificates your services will trust. Development only.\n\n',
        );
      }
      const { initCa, DEFAULT_ALLOW_DNS } = await loadServer();
      const result = await initCa({
        dir: caDir(ctx, opts.dir),
        name: opts.name,
        keyType: opts.keyType,
        passphrase,
        trustDomain: opts.trustDomain,
        allowDns: opts.allowDns ?? [...DEFAULT_ALLOW_DNS],
        env: ctx.env,
        now: ctx.now(),
        ...(opts.postgresEnv === undefined ? {} : { store: { postgresEnv: opts.postgresEnv } }),
        ...(pkcs11 === undefined ? {} : { pkcs11 }),
      });
      if (opts.json === true) {
        ctx.stdout(json(result));
        return;
      }
      const lines = [
        `Created CA "${opts.name}" in ${result.dir}`,
        `  root certificate:  ${result.rootFile}`,
        `  root fingerprint:  SHA256 ${colonHex(result.rootFingerprint)}`,
        `  configuration:     ${result.configFile}`,
      ];
      if (result.tokenKeys !== undefined) {
        lines.push(`  root key:          ${result.tokenKeys.root}`);
        lines.push(`  intermediate key:  ${result.tokenKeys.intermediate}`);
      }
      if (result.passphraseFile !== null) {
        lines.push(`  key passphrase:    ${result.passphraseFile} (generated; keep it off this disk in production)`);
      }
      lines.push('', 'Next: mutual cert issue localhost --profile server', '');
      ctx.stdout(lines.join('\n'));
    });

  ca.command('move-to-postgres')
    .description(
      'Move the SQLite inventory and audit trail into an empty PostgreSQL database, so several CA instances can share it',
    )
    .requiredOption('--postgres-env <var>', 'environment variable holding the PostgreSQL connection string')
    .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nStop the CA first. ca.yaml is pointed at the variable; the SQLite file is kept, renamed.')
    .action(async (opts: { postgresEnv: string; dir?: string; json?: boolean }) => {
      const { moveCaStoreToPostgres } = await loadServer();
      const moved = await moveCaStoreToPostgres({
        dir: caDir(ctx, opts.dir),
        postgresEnv: opts.postgresEnv,
        env: ctx.env,
        actor: `cli:${userInfo().username}`,
        now: ctx.now(),
      });
      if (opts.json === true) {
        ctx.stdout(json(moved));
        return;
      }
      const total = Object.values(moved.rows).reduce((a, b) => a + b, 0);
      ctx.stdout(
        [
          `Moved ${String(total)} records into PostgreSQL (${String(moved.rows.certificates)} certificates, ${String(moved.rows.audit_log)} audit records; the move is audit record ${String(moved.moveRecordSeq)}).`,
          `  ca.yaml now reads the connection string from $${opts.postgresEnv}.`,
          `  the SQLite file is kept as ${moved.leftAt}`,
          `Start every CA instance with ${opts.postgresEnv} set: mutual ca serve`,
          '',
        ].join('\n'),
      );
    });

  /** The two rotations share their options, their audit actor and their output shape. */
  const rotation = <R>(spec: {
    name: string;
    description: string;
    keyTypeOf: string;
    after: string;
    run: (args: { dir: string; env: typeof ctx.env; actor: string; now: Date; keyType?: KeyType }) => Promise<R>;
    print: (r: R) => string[];
  }): void => {
    ca.command(spec.name)
      .description(spec.description)
      .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
      .option(
        '--key-type <type>',
        `key type of ${spec.keyTypeOf}: p256, p384, rsa2048, rsa3072, rsa4096, ed25519 (default: that of the current intermediate)`,
        keyTypeArg,
      )
      .option('--json', 'print the result as JSON')
      .addHelpText('after', `\n${spec.after}`)
      .action(async (opts: { dir?: string; keyType?: KeyType; json?: boolean }) => {
        const rotated = await spec.run({
          dir: caDir(ctx, opts.dir),
          env: ctx.env,
          actor: `cli:${userInfo().username}`,
          now: ctx.now(),
          ...(opts.keyType === undefined ? {} : { keyType: opts.keyType }),
        });
        ctx.stdout(opts.json === true ? json(rotated) : [...spec.print(rotated), ''].join('\n'));
      });
  };
  const droppedLine = (dropped: readonly string[]): string[] =>
    dropped.length === 0 ? [] : [`  dropped from ca.yaml (expired): ${dropped.join(', ')}`];

  rotation({
    name: 'rotate-intermediate',
    description:
      'Replace the intermediate that signs with a new one (new key, signed by the root); certificates of the old one stay valid until they expire',
    keyTypeOf: 'the new intermediate',
    after:
      'The root does not change: nothing that trusts it needs a new bundle. Restart every `mutual ca serve`\n' +
      'instance (each reads ca.yaml and the new files at start) to sign with the new intermediate.',
    run: async (args) => (await loadServer()).rotateIntermediate(args),
    print: (r) => [
      `New intermediate ${r.subject}`,
      `  fingerprint:  ${r.fingerprint}`,
      `  valid until:  ${r.notAfter.toISOString()}`,
      `  files:        ${r.certificateFile}, ${r.keyFile}`,
      `  replaces:     ${r.previousFingerprint} (kept in previousIntermediates: its certificates stay valid, renewable and revocable)`,
      ...droppedLine(r.dropped),
      `  audit record: ${r.auditSeq.toString()}`,
      'Restart every `mutual ca serve` instance to sign with it.',
    ],
  });

  rotation({
    name: 'rotate-root',
    description:
      'Make a new root (new key) with a new intermediate under it; the current root certifies the new one, so nothing that trusts only the current root breaks',
    keyTypeOf: 'the new root and intermediate',
    after:
      'Restart every `mutual ca serve` instance. Chains handed out then end with the cross-certificate, so relying\n' +
      'parties that trust only the previous root keep validating. Add the new root to every trust bundle (`mutual ca\n' +
      'trust` shows which components have it), then run `mutual ca finish-root-rotation` (and, once its certificates\n' +
      'have expired, remove the previous root from ca.yaml).',
    run: async (args) => (await loadServer()).rotateRoot(args),
    print: (r) => [
      `New root ${r.root.subject}`,
      `  fingerprint:        ${r.root.fingerprint}  (add ${r.root.file} to every trust bundle)`,
      `  valid until:        ${r.root.notAfter.toISOString()}`,
      `  cross-certificate:  ${r.cross.file} (the new root certified by ${r.previousFingerprint}, until ${r.cross.notAfter.toISOString()})`,
      `  new intermediate:   ${r.intermediate.subject} (${r.intermediate.fingerprint})`,
      ...droppedLine(r.dropped),
      `  audit record:       ${r.auditSeq.toString()}`,
      'Restart every `mutual ca serve` instance to sign under the new root.',
    ],
  });

  withClientOptions(
    ca
      .command('trust')
      .description(
        "Which reporting components trust which of the CA's roots (from their reports): during a root rotation, who still lacks the new root (admin)",
      ),
  )
    .option('--json', 'print the result as JSON')
    .action(async (opts: ClientOptions & { json?: boolean }) => {
      const client = await caClientFrom(ctx, opts, true);
      const roots = await client.roots();
      const rootFps = roots.roots.map((pem) =>
        createHash('sha256').update(decodeOnePem(pem, 'CERTIFICATE')).digest('hex'),
      );
      const components = (await client.components()).items.map((c) => {
        const anchors = c.health.trustAnchors;
        return {
          kind: c.kind,
          name: c.name,
          lastSeen: c.lastSeen,
          stale: c.stale,
          /** null: the component does not say which roots it trusts. */
          trustsCurrentRoot: anchors === undefined ? null : anchors.includes(roots.fingerprint),
          trustedRoots: anchors === undefined ? null : rootFps.filter((fp) => anchors.includes(fp)),
        };
      });
      if (opts.json === true) {
        ctx.stdout(json({ currentRoot: roots.fingerprint, roots: rootFps, components }));
        return;
      }
      const yes = components.filter((c) => c.trustsCurrentRoot === true).length;
      const unknown = components.filter((c) => c.trustsCurrentRoot === null).length;
      ctx.stdout(
        table(
          ['KIND', 'NAME', 'LAST SEEN', 'TRUSTS CURRENT ROOT', 'TRUSTED ROOTS'],
          components.map((c) => [
            c.kind,
            c.name,
            `${c.lastSeen.slice(0, 16).replace('T', ' ')}${c.stale ? ' (stale)' : ''}`,
            c.trustsCurrentRoot === null ? 'not reported' : c.trustsCurrentRoot ? 'yes' : 'NO',
            c.trustedRoots === null ? '-' : c.trustedRoots.map((fp) => fp.slice(0, 16)).join(', ') || 'none of them',
          ]),
        ) +
          `${String(yes)} of ${String(components.length)} components trust the current root ${roots.fingerprint.slice(0, 16)}…` +
          (unknown > 0 ? `; ${String(unknown)} do not report their roots` : '') +
          '.\n',
      );
    });

  withClientOptions(
    ca
      .command('status')
      .description(
        "The CA's certificates, inventory and reporting components, and what to do next — worked out from its state (reads the CA directory, or asks a running CA with --remote; changes nothing)",
      )
      .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
      .option('--remote', 'ask the running CA of the saved context (or --ca-url) instead, as an admin (GET /v1/status)')
      .option('--json', 'print the result as JSON'),
  ).action(async (opts: ClientOptions & { dir?: string; remote?: boolean; json?: boolean }) => {
    const remote = opts.remote === true || opts.caUrl !== undefined;
    if (remote && opts.dir !== undefined) {
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
        message: 'Give --dir to read a CA directory, or --remote/--ca-url to ask a running CA — not both.',
      });
    }
    let s: StatusView;
    let where: string;
    let raw: unknown;
    if (remote) {
      const client = await caClientFrom(ctx, opts, true);
      const answer = await client.status();
      raw = answer;
      s = answer;
      where = client.url;
    } else {
      const local = await (await loadServer()).caStatus({ dir: caDir(ctx, opts.dir), env: ctx.env, now: ctx.now() });
      raw = local;
      s = local;
      where = local.dir;
    }
    ctx.stdout(opts.json === true ? json(raw) : renderStatus(s, where));
  });

  ca.command('finish-root-rotation')
    .description(
      'End a root rotation: chains stop carrying the cross-certificate — refused while a reporting component lacks the new root or does not say',
    )
    .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
    .option('--force', 'finish even though some components lack the new root or do not report their roots (audited)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nComponents report the roots they trust (gateways: their trust bundles; agents: their CA root file). Those\n' +
        'that have not reported within reports.staleAfter are listed but not judged. Restart every `mutual ca serve`\n' +
        'instance afterwards: chains then end at the intermediate, under the new root.',
    )
    .action(async (opts: { dir?: string; force?: boolean; json?: boolean }) => {
      const r = await (
        await loadServer()
      ).finishRootRotation({
        dir: caDir(ctx, opts.dir),
        env: ctx.env,
        actor: `cli:${userInfo().username}`,
        now: ctx.now(),
        ...(opts.force === true ? { force: true } : {}),
      });
      if (opts.json === true) {
        ctx.stdout(json(r));
        return;
      }
      const standing = { trusts: 'yes', lacks: 'NO', unreported: 'not reported', stale: 'stale (not judged)' };
      ctx.stdout(
        (r.components.length === 0
          ? 'No component has reported to this CA.\n'
          : table(
              ['KIND', 'NAME', 'LAST SEEN', 'TRUSTS CURRENT ROOT'],
              r.components.map((c) => [
                c.kind,
                c.name,
                c.lastSeen.toISOString().slice(0, 16).replace('T', ' '),
                standing[c.standing],
              ]),
            )) +
          [
            `Root rotation finished${r.forced ? ' (forced: some components lack the new root or do not say)' : ''}.`,
            `  chains end at the root ${r.rootFingerprint}`,
            `  no longer sent:  ${r.crossCertificates.join(', ')}`,
            `  audit record:    ${r.auditSeq.toString()}`,
            'Restart every `mutual ca serve` instance to hand out the shorter chains.',
            '',
          ].join('\n'),
      );
    });

  ca.command('retire-root')
    .description(
      'After finish-root-rotation: drop a previous root and the intermediates under it from ca.yaml — refused while certificates still chain to it',
    )
    .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
    .option(
      '--fingerprint <hex>',
      'leading hex digits (8 or more) of the root to retire (default: the only previous root)',
    )
    .option('--force', 'retire it although unexpired certificates still chain to it (audited)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nRestart every `mutual ca serve` instance afterwards: /v1/roots then lists the current root only, and the\n' +
        "retired root's CRLs and OCSP answers end. Remove it from trust bundles once no certificate under it is in use.",
    )
    .action(async (opts: { dir?: string; fingerprint?: string; force?: boolean; json?: boolean }) => {
      const r = await (
        await loadServer()
      ).retireRoot({
        dir: caDir(ctx, opts.dir),
        env: ctx.env,
        actor: `cli:${userInfo().username}`,
        now: ctx.now(),
        ...(opts.fingerprint === undefined ? {} : { fingerprint: opts.fingerprint }),
        ...(opts.force === true ? { force: true } : {}),
      });
      ctx.stdout(
        opts.json === true
          ? json(r)
          : [
              `Retired the root ${r.subject}${r.forced ? ` (forced: ${String(r.certificates)} unexpired certificates still chained to it)` : ''}`,
              `  fingerprint:    ${r.fingerprint}`,
              `  intermediates:  ${r.intermediates.length === 0 ? 'none' : r.intermediates.join(', ')}`,
              `  audit record:   ${r.auditSeq.toString()}`,
              'Restart every `mutual ca serve` instance; then remove it from trust bundles.',
              '',
            ].join('\n'),
      );
    });

  ca.command('serve')
    .description('Run the online CA: HTTPS API for sign (token), renew (mTLS), revoke, CRL, OCSP, tokens, inventory')
    .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
    .option('--config <file>', 'ca.yaml (default: <dir>/ca.yaml)')
    .option('--listen <host:port>', 'override server.listen from ca.yaml')
    .option('--login-link', 'print a one-time dashboard login link (valid 15 minutes, single use)')
    .action(async (opts: { dir?: string; config?: string; listen?: string; loginLink?: boolean }) => {
      const { startCaServer } = await loadServer();
      const listen = opts.listen === undefined ? undefined : parseListen(opts.listen);
      const server = await startCaServer({
        ...(opts.config === undefined
          ? { dir: caDir(ctx, opts.dir) }
          : { configFile: path.resolve(ctx.cwd, opts.config) }),
        env: ctx.env,
        clock: { now: ctx.now },
        ...(listen === undefined ? {} : { listen }),
      });
      const stopped = waitForStop();
      const fingerprint = createHash('sha256').update(decodeOnePem(server.rootPem, 'CERTIFICATE')).digest('hex');
      ctx.stdout(
        [
          `mutual CA listening on ${server.url}`,
          `  root fingerprint: ${fingerprint}`,
          `  clients: mutual ca bootstrap --ca-url ${server.url} --fingerprint ${fingerprint}`,
          opts.loginLink === true
            ? `  dashboard: ${server.loginLink()}  (one-time login link, valid 15 minutes)`
            : `  dashboard: ${server.url}/ui/ (admin client certificate, or restart with --login-link)`,
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      await stopped;
      await server.close();
      ctx.stdout('Stopped.\n');
    });

  withClientOptions(
    ca
      .command('bootstrap')
      .description("Trust a CA by its root's SHA-256 fingerprint and save it as the context of the client commands"),
  )
    .requiredOption(
      '--fingerprint <sha256>',
      'SHA-256 of the root certificate (from `mutual ca fingerprint` on the CA)',
    )
    .action(async (opts: { caUrl?: string; fingerprint: string; cert?: string; key?: string; contextDir?: string }) => {
      if (opts.caUrl === undefined) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: '--ca-url is required for bootstrap.' });
      }
      const { rootPem, fingerprint } = await bootstrapCa(opts.caUrl, opts.fingerprint);
      const dir = await saveContext(
        ctx,
        opts.contextDir,
        {
          caUrl: opts.caUrl,
          fingerprint,
          root: '',
          ...(opts.cert === undefined ? {} : { cert: path.resolve(ctx.cwd, opts.cert) }),
          ...(opts.key === undefined ? {} : { key: path.resolve(ctx.cwd, opts.key) }),
        },
        rootPem,
      );
      ctx.stdout(`Trusted the CA at ${opts.caUrl} (root SHA256 ${colonHex(fingerprint)}); context saved in ${dir}\n`);
    });

  ca.command('fingerprint')
    .description("Print the SHA-256 fingerprint of the CA's root certificate")
    .option('--dir <dir>', 'CA directory')
    .action(async (opts: { dir?: string }) => {
      const { openLocalCa } = await loadServer();
      const local = await openLocalCa({ dir: caDir(ctx, opts.dir), env: ctx.env });
      try {
        ctx.stdout(`${local.rootFingerprint}\n`);
      } finally {
        await local.close();
      }
    });

  registerCaHsmCommands(ca, ctx);
}

/** What `ca status` prints, from the CA directory or from GET /v1/status (times as Date or ISO text). */
interface StatusCertificateView {
  readonly subject: string;
  readonly fingerprint: string;
  readonly notAfter: Date | string;
  readonly left: number;
  readonly key?: { readonly storage: string } | undefined;
}
interface StatusView {
  readonly name: string;
  readonly store: string;
  readonly root: StatusCertificateView;
  readonly intermediate: StatusCertificateView;
  readonly crossCertificates: readonly StatusCertificateView[];
  readonly previousRoots: readonly (StatusCertificateView & {
    readonly certificates: number;
    readonly atLeast: boolean;
  })[];
  readonly previousIntermediates: readonly StatusCertificateView[];
  readonly inventory: Readonly<Record<string, number>>;
  readonly keepExpiredMs?: number | null | undefined;
  readonly components: readonly { readonly standing: string }[];
  readonly next: readonly string[];
}

function renderStatus(s: StatusView, where: string): string {
  const row = (role: string, c: StatusCertificateView, extra = ''): string[] => [
    role,
    c.subject,
    c.fingerprint.slice(0, 16),
    new Date(c.notAfter).toISOString().slice(0, 10),
    c.key === undefined ? '' : c.key.storage === 'pkcs11' ? 'token' : 'file',
    `${String(Math.round(c.left * 100))} %${extra}`,
  ];
  const count = (standing: string): number => s.components.filter((c) => c.standing === standing).length;
  const n = (state: string): string => String(s.inventory[state] ?? 0);
  return [
    `CA ${s.name} at ${where} (store: ${s.store})`,
    '',
    table(
      ['', 'SUBJECT', 'FINGERPRINT', 'VALID UNTIL', 'KEY', 'LIFE LEFT'],
      [
        row('root', s.root),
        row('intermediate', s.intermediate),
        ...s.crossCertificates.map((c) => row('cross-certificate (sent)', c)),
        ...s.previousRoots.map((r) =>
          row('previous root', r, `, ${String(r.certificates)}${r.atLeast ? '+' : ''} certificates under it`),
        ),
        ...s.previousIntermediates.map((c) => row('previous intermediate', c)),
      ],
    ).trimEnd(),
    '',
    `Inventory: ${n('valid')} valid, ${n('expiring')} expiring, ${n('expired')} expired, ${n('revoked')} revoked${
      s.keepExpiredMs === undefined
        ? ''
        : s.keepExpiredMs === null
          ? '; expired records are kept forever'
          : `; records leave ${formatDuration(s.keepExpiredMs)} after expiry`
    }.`,
    s.components.length === 0
      ? 'Components: none has reported to this CA.'
      : `Components: ${String(s.components.length)} (${String(count('trusts'))} trust the current root, ${String(count('lacks'))} lack it, ${String(count('unreported'))} do not say, ${String(count('stale'))} stale).`,
    '',
    ...(s.next.length === 0
      ? ['Nothing to do.']
      : ['Next:', ...s.next.map((line, i) => `  ${String(i + 1)}. ${line}`)]),
    '',
  ].join('\n');
}
