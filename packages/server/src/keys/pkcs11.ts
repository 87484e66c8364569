import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { describePublicKey, MutualError } from '@mutual/sdk';
import type { ExternalPrivateKey } from '../pki/index.js';
import { formatPkcs11Uri, type Pkcs11KeyRef } from './pkcs11-uri.js';

/*
 * CA keys on a PKCS#11 token through the pkcs11js binding (an optional native dependency). The key
 * never leaves the token: mutual hashes, the token signs. Calls are synchronous; one session per
 * token per process, logged in as the user; a session the token dropped (removed, reset) is
 * reopened once before an operation fails.
 */

type Binding = typeof import('pkcs11js');
type Pkcs11 = InstanceType<Binding['PKCS11']>;
type Handle = Buffer;

let binding: Binding | undefined;

function loadBinding(): Binding {
  if (binding !== undefined) return binding;
  try {
    binding = createRequire(import.meta.url)('pkcs11js') as Binding;
    return binding;
  } catch (cause) {
    throw new MutualError('ERR_KEYS_PKCS11_UNAVAILABLE', { cause });
  }
}

/** The CKR_ name of a PKCS#11 error (pkcs11js puts it in the message), or null for another error. */
export function pkcs11ErrorName(err: unknown): string | null {
  if (err instanceof Error && /^CKR_[A-Z_]+$/.test(err.message)) return err.message;
  return null;
}

const trim = (s: string): string => s.replace(/[\s\0]+$/, '');

function failed(step: string, cause: unknown, details: Record<string, unknown> = {}): MutualError {
  const ckr = pkcs11ErrorName(cause);
  return new MutualError('ERR_KEYS_PKCS11_FAILED', {
    message: `The PKCS#11 token failed to ${step}${ckr === null ? '' : ` (${ckr})`}.`,
    details: { step, ...(ckr === null ? {} : { ckr }), ...details },
    cause,
  });
}

export interface Pkcs11ModuleInfo {
  readonly manufacturer: string;
  readonly description: string;
  readonly libraryVersion: string;
  readonly cryptokiVersion: string;
}

export interface Pkcs11TokenSeen {
  readonly slot: string;
  readonly label: string;
  readonly serial: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly initialized: boolean;
  readonly loginRequired: boolean;
}

export interface Pkcs11KeySeen {
  readonly label: string;
  readonly id: string;
  readonly keyType: string;
}

export type TokenKeyType = 'p256' | 'p384' | 'rsa2048' | 'rsa3072' | 'rsa4096';

export interface Pkcs11Token {
  readonly label: string;
  readonly serial: string;
  /** The private keys the logged-in user sees (label, id as hex, type). */
  privateKeys(): Pkcs11KeySeen[];
  /**
   * The key a reference names, as a signer. Its public key is the token's public-key object with the
   * same id or label, else `publicKey` (the certificate's); with `publicKey`, a test signature must
   * verify under it (ERR_CA_KEY_MISMATCH otherwise).
   */
  key(ref: Pkcs11KeyRef, publicKey?: KeyObject): Pkcs11Key;
  /** A new key pair on the token: private half sensitive and never extractable. */
  generate(label: string, id: Uint8Array, type: TokenKeyType): Pkcs11Key;
  /** Destroys the key pair (private and public objects) a reference names; how many objects went. */
  destroy(ref: Pkcs11KeyRef): number;
}

export interface Pkcs11Key extends ExternalPrivateKey {
  /** The URI that names it (token by label, key by label and id). */
  readonly uri: string;
  readonly keyType: string;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  /**
   * How another thread of this process opens the same key in a session of its own: undefined when
   * the module could not be initialised for use from several threads (CKF_OS_LOCKING_OK refused).
   * Holds the PIN: hand it only to this process's own threads, never to a log.
   */
  threadAccess(): Pkcs11ThreadAccess | undefined;
}

export interface Pkcs11ThreadAccess {
  readonly module: string;
  readonly uri: string;
  readonly pin: string;
}

export interface Pkcs11Module {
  readonly path: string;
  info(): Pkcs11ModuleInfo;
  tokens(): Pkcs11TokenSeen[];
  /** Opens (once per process) and logs in to the token the reference names. */
  openToken(ref: Pick<Pkcs11KeyRef, 'token' | 'serial'>, pin: string): Pkcs11Token;
}

const modules = new Map<string, Pkcs11Module>();

/** Loads and initialises a PKCS#11 library, once per process and path. */
export function loadPkcs11Module(modulePath: string): Pkcs11Module {
  const known = modules.get(modulePath);
  if (known !== undefined) return known;
  const b = loadBinding();
  const p = new b.PKCS11();
  try {
    p.load(modulePath);
  } catch (cause) {
    throw new MutualError('ERR_KEYS_PKCS11_MODULE', {
      message: `The PKCS#11 module could not be loaded: ${cause instanceof Error ? cause.message : String(cause)}.`,
      details: { module: modulePath },
      cause,
    });
  }
  // Several threads of this process (the pki threads) may open sessions: the library must lock.
  let threadSafe = true;
  const initialise = (flags: number | undefined): void => {
    try {
      p.C_Initialize(flags === undefined ? undefined : { flags });
    } catch (cause) {
      const ckr = pkcs11ErrorName(cause);
      if (ckr === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') return;
      if (ckr === 'CKR_CANT_LOCK' && flags !== undefined) {
        threadSafe = false;
        initialise(undefined);
        return;
      }
      throw new MutualError('ERR_KEYS_PKCS11_MODULE', {
        message: `The PKCS#11 module loaded but did not initialise (${ckr ?? String(cause)}).`,
        details: { module: modulePath, ckr },
        cause,
      });
    }
  };
  initialise(b.CKF_OS_LOCKING_OK);
  const tokens = new Map<string, Pkcs11Token>();
  const m: Pkcs11Module = {
    path: modulePath,
    info: () => {
      const i = p.C_GetInfo();
      return {
        manufacturer: trim(i.manufacturerID),
        description: trim(i.libraryDescription),
        libraryVersion: `${i.libraryVersion.major}.${i.libraryVersion.minor}`,
        cryptokiVersion: `${i.cryptokiVersion.major}.${i.cryptokiVersion.minor}`,
      };
    },
    tokens: () => listTokens(b, p),
    openToken: (ref, pin) => {
      const cacheKey = `${ref.token ?? ''}\0${ref.serial ?? ''}`;
      let t = tokens.get(cacheKey);
      if (t === undefined) {
        t = openToken(b, p, ref, pin, threadSafe ? modulePath : null);
        tokens.set(cacheKey, t);
      }
      return t;
    },
  };
  modules.set(modulePath, m);
  return m;
}

function listTokens(b: Binding, p: Pkcs11): Pkcs11TokenSeen[] {
  let slots: Handle[];
  try {
    slots = p.C_GetSlotList(true);
  } catch (cause) {
    throw failed('list its slots', cause);
  }
  return slots.map((slot) => {
    const t = p.C_GetTokenInfo(slot);
    return {
      slot: slot.readBigUInt64LE(0).toString(),
      label: trim(t.label),
      serial: trim(t.serialNumber),
      manufacturer: trim(t.manufacturerID),
      model: trim(t.model),
      initialized: (t.flags & b.CKF_TOKEN_INITIALIZED) !== 0,
      loginRequired: (t.flags & b.CKF_LOGIN_REQUIRED) !== 0,
    };
  });
}

const SESSION_LOST = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_DEVICE_REMOVED',
]);

const EC_PARAMS: Record<string, string> = {
  '06082a8648ce3d030107': 'P-256',
  '06052b81040022': 'P-384',
};
const EC_OID: Record<'P-256' | 'P-384', string> = { 'P-256': '06082a8648ce3d030107', 'P-384': '06052b81040022' };

function openToken(
  b: Binding,
  p: Pkcs11,
  ref: Pick<Pkcs11KeyRef, 'token' | 'serial'>,
  pin: string,
  /** The module's path when other threads may open their own sessions, else null. */
  sharedModule: string | null,
): Pkcs11Token {
  const seen = listTokens(b, p).filter((t) => t.initialized);
  const match = seen.find(
    (t) => (ref.token === undefined || t.label === ref.token) && (ref.serial === undefined || t.serial === ref.serial),
  );
  if (match === undefined) {
    throw new MutualError('ERR_KEYS_PKCS11_TOKEN_NOT_FOUND', {
      message: `No token ${ref.token !== undefined ? `labelled "${ref.token}"` : `with serial ${ref.serial ?? ''}`} was found; the module shows ${
        seen.length === 0 ? 'no token' : seen.map((t) => `"${t.label}" (serial ${t.serial})`).join(', ')
      }.`,
      details: { wanted: ref, seen: seen.map((t) => ({ label: t.label, serial: t.serial })) },
    });
  }
  const slot = p.C_GetSlotList(true).find((s) => s.readBigUInt64LE(0).toString() === match.slot);
  if (slot === undefined) throw failed('find its slot again', new Error('slot vanished'));

  let session: Handle | null = null;
  const login = (s: Handle): void => {
    try {
      p.C_Login(s, b.CKU_USER, pin);
    } catch (cause) {
      const ckr = pkcs11ErrorName(cause);
      if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') return;
      if (ckr === 'CKR_PIN_INCORRECT' || ckr === 'CKR_PIN_INVALID' || ckr === 'CKR_PIN_LEN_RANGE') {
        throw new MutualError('ERR_KEYS_PKCS11_PIN_INCORRECT', {
          details: { token: match.label, ckr },
          cause,
        });
      }
      if (ckr === 'CKR_PIN_LOCKED' || ckr === 'CKR_PIN_EXPIRED') {
        throw new MutualError('ERR_KEYS_PKCS11_PIN_LOCKED', { details: { token: match.label, ckr }, cause });
      }
      throw failed('log in', cause, { token: match.label });
    }
  };
  const open = (): Handle => {
    if (session !== null) return session;
    let s: Handle;
    try {
      s = p.C_OpenSession(slot, b.CKF_SERIAL_SESSION | b.CKF_RW_SESSION);
    } catch (cause) {
      throw failed('open a session', cause, { token: match.label });
    }
    try {
      login(s);
    } catch (err) {
      try {
        p.C_CloseSession(s);
      } catch {
        // the login error is what matters
      }
      throw err;
    }
    session = s;
    return s;
  };
  /** Runs `op` on the session; a session the token dropped is reopened and `op` run once more. */
  const withSession = <T>(step: string, op: (s: Handle) => T): T => {
    try {
      return op(open());
    } catch (cause) {
      if (cause instanceof MutualError) throw cause;
      const ckr = pkcs11ErrorName(cause);
      if (ckr === null || !SESSION_LOST.has(ckr)) throw failed(step, cause, { token: match.label });
      session = null;
      try {
        return op(open());
      } catch (again) {
        if (again instanceof MutualError) throw again;
        throw failed(step, again, { token: match.label });
      }
    }
  };
  open();

  const find = (s: Handle, template: { type: number; value: unknown }[]): Handle[] => {
    p.C_FindObjectsInit(s, template as Parameters<Pkcs11['C_FindObjectsInit']>[1]);
    try {
      const out: Handle[] = [];
      for (;;) {
        const batch = p.C_FindObjects(s, 64);
        out.push(...batch);
        if (batch.length < 64) return out;
      }
    } finally {
      p.C_FindObjectsFinal(s);
    }
  };
  const attrs = (s: Handle, h: Handle, types: number[]): Map<number, unknown> => {
    const got = p.C_GetAttributeValue(
      s,
      h,
      types.map((type) => ({ type })),
    );
    return new Map(got.map((a) => [a.type, a.value]));
  };
  const keyTypeName = (kt: number): string => (kt === b.CKK_EC ? 'EC' : kt === b.CKK_RSA ? 'RSA' : `key type ${kt}`);
  const readBuffer = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.alloc(0));
  const readBool = (v: unknown): boolean => (Buffer.isBuffer(v) ? v.some((x) => x !== 0) : v === true);
  const readNumber = (v: unknown): number => (Buffer.isBuffer(v) ? v.readUIntLE(0, Math.min(6, v.length)) : Number(v));

  const refTemplate = (cls: number, ref: Pkcs11KeyRef): { type: number; value: unknown }[] => [
    { type: b.CKA_CLASS, value: cls },
    ...(ref.object === undefined ? [] : [{ type: b.CKA_LABEL, value: ref.object }]),
    ...(ref.id === undefined ? [] : [{ type: b.CKA_ID, value: Buffer.from(ref.id) }]),
  ];

  const publicFromToken = (s: Handle, ref: Pkcs11KeyRef, kt: number): KeyObject | null => {
    const handles = find(s, refTemplate(b.CKO_PUBLIC_KEY, ref));
    if (handles.length !== 1) return null;
    const h = handles[0] as Handle;
    if (kt === b.CKK_EC) {
      const a = attrs(s, h, [b.CKA_EC_PARAMS, b.CKA_EC_POINT]);
      const curve = EC_PARAMS[readBuffer(a.get(b.CKA_EC_PARAMS)).toString('hex')];
      let point = readBuffer(a.get(b.CKA_EC_POINT));
      // Usually DER OCTET STRING-wrapped (PKCS#11 2.40); some tokens give the bare point.
      if (point[0] === 0x04 && point.length > 2 && point[1] === point.length - 2 && (point.length - 2) % 2 === 1) {
        point = point.subarray(2);
      } else if (point[0] === 0x04 && point[1] === 0x81 && point[2] === point.length - 3) {
        point = point.subarray(3);
      }
      if (curve === undefined || point[0] !== 0x04) return null;
      const n = (point.length - 1) / 2;
      return createPublicKey({
        key: {
          kty: 'EC',
          crv: curve,
          x: point.subarray(1, 1 + n).toString('base64url'),
          y: point.subarray(1 + n).toString('base64url'),
        },
        format: 'jwk',
      });
    }
    if (kt === b.CKK_RSA) {
      const a = attrs(s, h, [b.CKA_MODULUS, b.CKA_PUBLIC_EXPONENT]);
      return createPublicKey({
        key: {
          kty: 'RSA',
          n: readBuffer(a.get(b.CKA_MODULUS)).toString('base64url'),
          e: readBuffer(a.get(b.CKA_PUBLIC_EXPONENT)).toString('base64url'),
        },
        format: 'jwk',
      });
    }
    return null;
  };

  const asKey = (
    ref: Pkcs11KeyRef,
    publicKey: KeyObject,
    facts: Omit<Pkcs11Key, 'type' | 'publicKey' | 'description' | 'uri' | 'sign' | 'threadAccess'>,
  ): Pkcs11Key => {
    const d = describePublicKey(publicKey);
    const uri = formatPkcs11Uri({
      token: match.label,
      ...(ref.object === undefined ? {} : { object: ref.object }),
      ...(ref.id === undefined ? {} : { id: ref.id }),
    });
    let handle: Handle | null = null;
    const keyHandle = (s: Handle): Handle => {
      if (handle !== null) return handle;
      const found = find(s, refTemplate(b.CKO_PRIVATE_KEY, ref));
      if (found.length !== 1) throw keyNotFound(ref, found.length);
      handle = found[0] as Handle;
      return handle;
    };
    let sign: (data: Uint8Array) => Uint8Array;
    if (d.algorithm === 'ec' && (d.curve === 'P-256' || d.curve === 'P-384')) {
      const hash = d.curve === 'P-384' ? 'sha384' : 'sha256';
      const size = d.curve === 'P-384' ? 48 : 32;
      sign = (data) => {
        const digest = createHash(hash).update(data).digest();
        const raw = withSession('sign', (s) => {
          const h = keyHandle(s);
          p.C_SignInit(s, { mechanism: b.CKM_ECDSA }, h);
          return p.C_Sign(s, digest, Buffer.alloc(size * 2));
        });
        if (raw.length !== size * 2) throw failed('sign', new Error(`an ECDSA signature of ${raw.length} bytes`));
        return ecdsaDer(raw.subarray(0, size), raw.subarray(size));
      };
    } else if (d.algorithm === 'rsa' && d.bits >= 2048) {
      const bytes = Math.ceil(d.bits / 8);
      sign = (data) =>
        new Uint8Array(
          withSession('sign', (s) => {
            const h = keyHandle(s);
            p.C_SignInit(s, { mechanism: b.CKM_SHA256_RSA_PKCS }, h);
            return p.C_Sign(s, Buffer.from(data), Buffer.alloc(bytes));
          }),
        );
    } else {
      throw new MutualError('ERR_KEYS_PKCS11_KEY_UNSUPPORTED', { details: { uri, keyType: d.type ?? d.algorithm } });
    }
    const threadAccess = (): Pkcs11ThreadAccess | undefined =>
      sharedModule === null ? undefined : { module: sharedModule, uri, pin };
    return { type: 'external', publicKey, description: uri, uri, sign, threadAccess, ...facts };
  };

  const keyNotFound = (ref: Pkcs11KeyRef, count: number): MutualError => {
    const keys = withSession('list its keys', (s) => listKeys(s));
    const wanted = formatPkcs11Uri({ token: match.label, ...ref });
    return new MutualError('ERR_KEYS_PKCS11_KEY_NOT_FOUND', {
      message:
        count > 1
          ? `${count} private keys on token "${match.label}" match ${wanted}; add id= to name one.`
          : `Token "${match.label}" holds no private key matching ${wanted}; it holds ${
              keys.length === 0
                ? 'no private key this user can see'
                : keys.map((k) => `"${k.label}" (id ${k.id || 'none'}, ${k.keyType})`).join(', ')
            }.`,
      details: { uri: wanted, matches: count, seen: keys },
    });
  };

  const listKeys = (s: Handle): Pkcs11KeySeen[] =>
    find(s, [{ type: b.CKA_CLASS, value: b.CKO_PRIVATE_KEY }]).map((h) => {
      const a = attrs(s, h, [b.CKA_LABEL, b.CKA_ID, b.CKA_KEY_TYPE]);
      return {
        label: readBuffer(a.get(b.CKA_LABEL)).toString('utf8'),
        id: readBuffer(a.get(b.CKA_ID)).toString('hex'),
        keyType: keyTypeName(readNumber(a.get(b.CKA_KEY_TYPE))),
      };
    });

  const token: Pkcs11Token = {
    label: match.label,
    serial: match.serial,
    privateKeys: () => withSession('list its keys', (s) => listKeys(s)),
    key: (ref, expected) => {
      const facts = withSession('read the key', (s) => {
        const found = find(s, refTemplate(b.CKO_PRIVATE_KEY, ref));
        if (found.length !== 1) return { count: found.length };
        const a = attrs(s, found[0] as Handle, [b.CKA_KEY_TYPE, b.CKA_SIGN, b.CKA_SENSITIVE, b.CKA_EXTRACTABLE]);
        const kt = readNumber(a.get(b.CKA_KEY_TYPE));
        return {
          count: 1,
          kt,
          canSign: readBool(a.get(b.CKA_SIGN)),
          sensitive: readBool(a.get(b.CKA_SENSITIVE)),
          extractable: readBool(a.get(b.CKA_EXTRACTABLE)),
          publicKey: publicFromToken(s, ref, kt),
        };
      });
      if (facts.count !== 1 || facts.kt === undefined) throw keyNotFound(ref, facts.count);
      const uri = formatPkcs11Uri({ token: match.label, ...ref });
      if ((facts.kt !== b.CKK_EC && facts.kt !== b.CKK_RSA) || !facts.canSign) {
        throw new MutualError('ERR_KEYS_PKCS11_KEY_UNSUPPORTED', {
          message: `The key ${uri} is ${keyTypeName(facts.kt)}${facts.canSign ? '' : ' and may not sign'}: the CA needs an EC P-256/P-384 or RSA key allowed to sign.`,
          details: { uri, keyType: keyTypeName(facts.kt), canSign: facts.canSign },
        });
      }
      const publicKey = expected ?? facts.publicKey;
      if (publicKey === null) {
        throw new MutualError('ERR_KEYS_PKCS11_KEY_NOT_FOUND', {
          message: `The token holds the private key ${uri} but no public key beside it, and no certificate was given to take it from.`,
          details: { uri },
        });
      }
      const key = asKey(ref, publicKey, {
        keyType: keyTypeName(facts.kt),
        sensitive: facts.sensitive,
        extractable: facts.extractable,
      });
      if (expected !== undefined && !signsFor(key, expected)) {
        throw new MutualError('ERR_CA_KEY_MISMATCH', {
          message: `The key ${uri} on the token does not belong to its certificate.`,
          details: { key: uri },
        });
      }
      return key;
    },
    generate: (label, id, type) => {
      const ref: Pkcs11KeyRef = { object: label, id };
      const common = [
        { type: b.CKA_TOKEN, value: true },
        { type: b.CKA_LABEL, value: label },
        { type: b.CKA_ID, value: Buffer.from(id) },
      ];
      withSession('generate a key pair', (s) => {
        if (find(s, refTemplate(b.CKO_PRIVATE_KEY, ref)).length > 0) {
          throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
            message: `Token "${match.label}" already holds a key labelled "${label}" with that id.`,
          });
        }
        const rsaBits = type === 'rsa4096' ? 4096 : type === 'rsa3072' ? 3072 : 2048;
        const mechanism = type === 'p256' || type === 'p384' ? b.CKM_EC_KEY_PAIR_GEN : b.CKM_RSA_PKCS_KEY_PAIR_GEN;
        const publicTemplate =
          type === 'p256' || type === 'p384'
            ? [
                ...common,
                { type: b.CKA_VERIFY, value: true },
                { type: b.CKA_EC_PARAMS, value: Buffer.from(EC_OID[type === 'p256' ? 'P-256' : 'P-384'], 'hex') },
              ]
            : [
                ...common,
                { type: b.CKA_VERIFY, value: true },
                { type: b.CKA_MODULUS_BITS, value: rsaBits },
                { type: b.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
              ];
        const privateTemplate = [
          ...common,
          { type: b.CKA_SIGN, value: true },
          { type: b.CKA_PRIVATE, value: true },
          { type: b.CKA_SENSITIVE, value: true },
          { type: b.CKA_EXTRACTABLE, value: false },
        ];
        return p.C_GenerateKeyPair(s, { mechanism }, publicTemplate, privateTemplate);
      });
      return token.key(ref);
    },
    destroy: (ref) =>
      withSession('destroy a key', (s) => {
        const objects = [
          ...find(s, refTemplate(b.CKO_PRIVATE_KEY, ref)),
          ...find(s, refTemplate(b.CKO_PUBLIC_KEY, ref)),
        ];
        for (const h of objects) p.C_DestroyObject(s, h);
        return objects.length;
      }),
  };
  return token;
}

/** True when a signature the key makes verifies under `publicKey`. */
export function signsFor(key: ExternalPrivateKey, publicKey: KeyObject): boolean {
  const probe = createHash('sha256').update(`mutual key check ${Date.now()}`).digest();
  const signature = key.sign(probe);
  const d = describePublicKey(publicKey);
  try {
    if (d.algorithm === 'ec') {
      return verify(
        d.curve === 'P-384' ? 'sha384' : 'sha256',
        probe,
        { key: publicKey, dsaEncoding: 'der' },
        signature,
      );
    }
    return verify('sha256', probe, publicKey, signature);
  } catch {
    return false;
  }
}

/** ECDSA r‖s (fixed width, as PKCS#11 returns it) → the DER SEQUENCE X.509 carries. */
export function ecdsaDer(r: Uint8Array, s: Uint8Array): Uint8Array {
  const int = (v: Uint8Array): Buffer => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    let body = Buffer.from(v.subarray(i));
    if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const content = Buffer.concat([int(r), int(s)]);
  const len = content.length < 0x80 ? Buffer.from([content.length]) : Buffer.from([0x81, content.length]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30]), len, content]));
}
