import { X509Certificate, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodeOnePem, describePublicKey, isMutualError, readFileCapped } from '@mutual/sdk';
import {
  isPkcs11Uri,
  loadPkcs11Module,
  parsePkcs11Uri,
  resolveSecret,
  signsFor,
  type Pkcs11Key,
  type Pkcs11KeyRef,
  type Pkcs11Module,
  type Pkcs11Token,
} from '../keys/index.js';
import type { SecretRef } from '../config/index.js';
import { loadCaDir } from './ca-store.js';

/** One step of `mutual ca hsm check`: what was tried, whether it worked, and in plain words why not. */
export interface HsmCheckStep {
  readonly step: 'module' | 'token' | 'login' | 'key' | 'signature';
  /** ok, failed, or skipped (an earlier step failed, or nothing to check). */
  readonly outcome: 'ok' | 'failed' | 'skipped';
  readonly detail: string;
  /** The error code of a failed step. */
  readonly code?: string;
  /** What to do about a failed step. */
  readonly hint?: string;
}

export interface HsmCheckResult {
  readonly ok: boolean;
  readonly module: string;
  readonly steps: readonly HsmCheckStep[];
}

export interface HsmKeyToCheck {
  /** What the key is for (root, intermediate, previous root …), for the report. */
  readonly name: string;
  readonly uri: string;
  /** The certificate the key must belong to, when there is one. */
  readonly certificate?: { readonly file: string; readonly publicKey: KeyObject };
}

export interface HsmCheckInput {
  readonly module: string;
  /** The token's label; without it the module's only token, or the tokens the keys name. */
  readonly token?: string;
  /** The user PIN; null: no login (the check stops after finding the token). */
  readonly pin: string | null;
  /** Where the PIN came from, for hints (never the PIN). */
  readonly pinSource?: string;
  readonly keys: readonly HsmKeyToCheck[];
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const codeOf = (err: unknown): string | undefined => (isMutualError(err) ? err.code : undefined);
const withCode = (err: unknown): { code?: string } => (isMutualError(err) ? { code: err.code } : {});

function moduleHint(err: unknown): string {
  const text = message(err);
  if (codeOf(err) === 'ERR_KEYS_PKCS11_UNAVAILABLE') {
    return 'The pkcs11js native module is missing: install python3, make and a C++ compiler, then run `npm install` again.';
  }
  if (text.includes('cannot open shared object file')) {
    return 'No library at that path: install the vendor package (for SoftHSM: apt-get install softhsm2; the module is /usr/lib/softhsm/libsofthsm2.so) or correct the path.';
  }
  if (text.includes('C_GetFunctionList') || text.includes('invalid ELF header') || text.includes('wrong ELF class')) {
    return 'That file is not a PKCS#11 module for this machine: point at the library the HSM vendor documents (a .so that exports C_GetFunctionList).';
  }
  return 'The library loaded but refused to start. For SoftHSM, SOFTHSM2_CONF (or /etc/softhsm/softhsm2.conf) must name a readable file whose directories.tokendir exists and is writable by this user; for an HSM, check its client configuration and that the device or network service is reachable.';
}

function pinHint(code: string | undefined, source: string | undefined): string {
  const where = source === undefined ? '' : ` (${source})`;
  if (code === 'ERR_KEYS_PKCS11_PIN_LOCKED') {
    return 'The user PIN is locked after too many wrong tries: the security officer must unlock it (SoftHSM: softhsm2-util --init-pin … needs the SO PIN; HSMs: the vendor tool).';
  }
  if (code === 'ERR_KEYS_PKCS11_PIN_INCORRECT') {
    return `Check the user PIN${where}: not the SO PIN, no trailing spaces inside the value. Tokens lock the PIN after a few wrong tries — do not retry blindly.`;
  }
  return `The token would not log in${where}; the CKR_ code above names the reason in the PKCS#11 specification.`;
}

function describeKey(key: Pkcs11Key): string {
  const d = describePublicKey(key.publicKey);
  const facts = [d.label];
  facts.push(key.sensitive ? 'sensitive' : 'NOT sensitive');
  facts.push(key.extractable ? 'EXTRACTABLE' : 'never extractable');
  return facts.join(', ');
}

/**
 * Checks, step by step, that mutual can use CA keys on a PKCS#11 token: the module loads, the token
 * is there, the PIN logs in, each key is found, is a kind the CA signs with, belongs to its
 * certificate, and signs (a test signature verified here). Stops at the first failed step and says
 * in plain words what to do about it.
 */
export function checkHsm(input: HsmCheckInput): HsmCheckResult {
  const steps: HsmCheckStep[] = [];
  const done = (): HsmCheckResult => ({ ok: steps.every((s) => s.outcome !== 'failed'), module: input.module, steps });
  const skipRest = (from: HsmCheckStep['step'][]): void => {
    for (const step of from) steps.push({ step, outcome: 'skipped', detail: 'not checked: an earlier step failed' });
  };

  let mod: Pkcs11Module;
  try {
    mod = loadPkcs11Module(input.module);
    const info = mod.info();
    steps.push({
      step: 'module',
      outcome: 'ok',
      detail: `${input.module}: ${info.manufacturer} ${info.description} ${info.libraryVersion}, Cryptoki ${info.cryptokiVersion}`,
    });
  } catch (err) {
    steps.push({
      step: 'module',
      outcome: 'failed',
      detail: message(err),
      ...withCode(err),
      hint: moduleHint(err),
    });
    skipRest(['token', 'login', 'key', 'signature']);
    return done();
  }

  const refs = input.keys.map((k) => ({ k, ref: parsePkcs11Uri(k.uri) }));
  const wanted: Pick<Pkcs11KeyRef, 'token' | 'serial'> | undefined =
    input.token !== undefined
      ? { token: input.token }
      : refs[0] === undefined
        ? undefined
        : {
            ...(refs[0].ref.token === undefined ? {} : { token: refs[0].ref.token }),
            ...(refs[0].ref.serial === undefined ? {} : { serial: refs[0].ref.serial }),
          };
  let seen;
  try {
    // Slots with a blank, uninitialised token (SoftHSM always offers one) are not candidates.
    seen = mod.tokens().filter((t) => t.initialized);
  } catch (err) {
    steps.push({ step: 'token', outcome: 'failed', detail: message(err), hint: moduleHint(err) });
    skipRest(['login', 'key', 'signature']);
    return done();
  }
  const list = seen.map((t) => `"${t.label}" (serial ${t.serial})`).join(', ');
  const found =
    wanted === undefined
      ? seen.length === 1
        ? seen[0]
        : undefined
      : seen.find(
          (t) =>
            (wanted.token === undefined || t.label === wanted.token) &&
            (wanted.serial === undefined || t.serial === wanted.serial),
        );
  if (found === undefined) {
    steps.push({
      step: 'token',
      outcome: 'failed',
      detail:
        seen.length === 0
          ? 'The module shows no token.'
          : wanted === undefined
            ? `The module shows several tokens (${list}); name one with --token.`
            : `No token ${wanted.token !== undefined ? `labelled "${wanted.token}"` : `with serial ${wanted.serial ?? ''}`}; the module shows ${list}.`,
      code: 'ERR_KEYS_PKCS11_TOKEN_NOT_FOUND',
      hint:
        seen.length === 0
          ? 'Initialise a token (SoftHSM: softhsm2-util --init-token --free --label <label>) or connect the HSM; for SoftHSM check that SOFTHSM2_CONF points where the token was made.'
          : 'Labels are matched exactly (trailing blanks ignored): use one of the labels above.',
    });
    skipRest(['login', 'key', 'signature']);
    return done();
  }
  steps.push({
    step: 'token',
    outcome: 'ok',
    detail: `"${found.label}": ${found.manufacturer} ${found.model}, serial ${found.serial}${found.initialized ? '' : ' (NOT initialised)'}`,
  });

  if (input.pin === null) {
    steps.push({
      step: 'login',
      outcome: 'skipped',
      detail: 'no PIN given: give --pin-file or --pin-env to check the login and the keys',
    });
    return done();
  }
  let token: Pkcs11Token;
  try {
    token = mod.openToken({ token: found.label }, input.pin);
    steps.push({ step: 'login', outcome: 'ok', detail: `logged in to "${found.label}" as its user` });
  } catch (err) {
    const code = codeOf(err);
    steps.push({
      step: 'login',
      outcome: 'failed',
      detail: message(err),
      ...(code === undefined ? {} : { code }),
      hint: pinHint(code, input.pinSource),
    });
    skipRest(['key', 'signature']);
    return done();
  }

  if (refs.length === 0) {
    const keys = token.privateKeys();
    steps.push({
      step: 'key',
      outcome: 'skipped',
      detail:
        keys.length === 0
          ? 'no key named (--key); the token holds no private key this user can see'
          : `no key named (--key); the token holds ${keys.map((k) => `"${k.label}" (id ${k.id || 'none'}, ${k.keyType})`).join(', ')}`,
    });
    return done();
  }
  for (const { k, ref } of refs) {
    let key: Pkcs11Key;
    try {
      key = token.key(ref, k.certificate?.publicKey);
    } catch (err) {
      const code = codeOf(err);
      steps.push({
        step: 'key',
        outcome: 'failed',
        detail: `${k.name}: ${message(err)}`,
        ...(code === undefined ? {} : { code }),
        hint:
          code === 'ERR_CA_KEY_MISMATCH'
            ? `The key on the token is not the one ${k.certificate?.file ?? 'the certificate'} was issued for: the URI names another key pair.`
            : code === 'ERR_KEYS_PKCS11_KEY_UNSUPPORTED'
              ? 'Make an EC P-256/P-384 or RSA (2048 bits or more) key with CKA_SIGN set.'
              : 'Name the key by the object= label and id= shown above (percent-encode the id bytes).',
      });
      continue;
    }
    steps.push({
      step: 'key',
      outcome: 'ok',
      detail: `${k.name}: ${describeKey(key)}${k.certificate === undefined ? '' : `, belongs to ${path.basename(k.certificate.file)}`}`,
      ...(key.extractable || !key.sensitive
        ? {
            hint: 'A CA key should be sensitive and never extractable; make a new one on the token (`ca init --pkcs11-token` does).',
          }
        : {}),
    });
    const started = performance.now();
    try {
      const verified = signsFor(key, k.certificate?.publicKey ?? key.publicKey);
      const ms = performance.now() - started;
      steps.push(
        verified
          ? {
              step: 'signature',
              outcome: 'ok',
              detail: `${k.name}: signed a test message, verified (${ms.toFixed(1)} ms)`,
            }
          : {
              step: 'signature',
              outcome: 'failed',
              detail: `${k.name}: the token signed, but the signature does not verify under the key's public half`,
              code: 'ERR_CA_KEY_MISMATCH',
              hint: 'The public-key object beside the private key belongs to another pair; remove it or name the key by a certificate.',
            },
      );
    } catch (err) {
      const code = codeOf(err);
      steps.push({
        step: 'signature',
        outcome: 'failed',
        detail: `${k.name}: ${message(err)}`,
        ...(code === undefined ? {} : { code }),
        hint: 'The token refused to sign with this key: check that CKA_SIGN is set and that the token supports CKM_ECDSA or CKM_SHA256_RSA_PKCS.',
      });
    }
  }
  return done();
}

/**
 * The check for a CA directory: the module, PIN and `pkcs11:` keys its ca.yaml names, each key
 * against its certificate.
 */
export async function checkCaHsm(options: {
  dir: string;
  env: Readonly<Record<string, string | undefined>>;
}): Promise<HsmCheckResult | null> {
  const { loaded } = loadCaDir(path.resolve(options.dir));
  const { config } = loaded;
  if (config.keys.pkcs11 === undefined) return null;
  const entries: [string, { certificate: string; key: string }][] = [
    ['root', config.root],
    ['intermediate', config.intermediate],
    ...config.previousIntermediates.map((f, i): [string, typeof f] => [`previous intermediate ${String(i + 1)}`, f]),
    ...config.previousRoots.map((f, i): [string, typeof f] => [`previous root ${String(i + 1)}`, f]),
  ];
  const keys: HsmKeyToCheck[] = [];
  for (const [name, f] of entries) {
    if (!isPkcs11Uri(f.key)) continue;
    const file = loaded.resolve(f.certificate);
    const der = decodeOnePem((await readFileCapped(file, 1024 * 1024)).toString('utf8'), 'CERTIFICATE');
    keys.push({ name, uri: f.key, certificate: { file, publicKey: new X509Certificate(der).publicKey } });
  }
  const pinRef: SecretRef = config.keys.pkcs11.pin;
  const pin = await resolveSecret(pinRef, { env: options.env, baseDir: loaded.baseDir });
  return checkHsm({
    module: loaded.resolve(config.keys.pkcs11.module),
    pin,
    pinSource: 'file' in pinRef ? `keys.pkcs11.pin: file ${pinRef.file}` : `keys.pkcs11.pin: env ${pinRef.env}`,
    keys,
  });
}
