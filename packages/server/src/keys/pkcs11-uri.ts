import { MutualError } from '@mutual/sdk';

/**
 * A key on a PKCS#11 token, as an RFC 7512 URI names it: the token by label or serial, the key by
 * label (`object`) and/or `CKA_ID` (`id`). Nothing else is taken: a PIN never travels in the URI.
 */
export interface Pkcs11KeyRef {
  readonly token?: string;
  readonly serial?: string;
  readonly object?: string;
  readonly id?: Uint8Array;
}

const PATH_ATTRIBUTES = new Set(['token', 'serial', 'object', 'id', 'type', 'manufacturer', 'model']);

export const isPkcs11Uri = (text: string): boolean => text.toLowerCase().startsWith('pkcs11:');

function invalid(uri: string, reason: string): MutualError {
  return new MutualError('ERR_KEYS_PKCS11_URI_INVALID', {
    message: `The PKCS#11 URI is not valid: ${reason}.`,
    details: { uri: withoutQuery(uri), reason },
  });
}

const withoutQuery = (uri: string): string => uri.split('?')[0] ?? uri;

function percentDecode(uri: string, value: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? '';
    if (c === '%') {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw invalid(uri, `a bad percent-encoding in "${value}"`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Uint8Array.from(out);
}

/** Parses `pkcs11:token=…;object=…;id=%01%02;type=private`. */
export function parsePkcs11Uri(uri: string): Pkcs11KeyRef {
  if (!isPkcs11Uri(uri)) throw invalid(uri, 'it does not start with "pkcs11:"');
  const rest = uri.slice('pkcs11:'.length);
  if (rest.includes('?')) {
    throw invalid(uri, 'query attributes (pin-value, pin-source, module-path) are not taken; use keys.pkcs11');
  }
  const seen = new Map<string, string>();
  for (const part of rest.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalid(uri, `"${part}" is not name=value`);
    const name = part.slice(0, eq).toLowerCase();
    if (!PATH_ATTRIBUTES.has(name)) throw invalid(uri, `the attribute "${name}" is not supported`);
    if (seen.has(name)) throw invalid(uri, `"${name}" is given twice`);
    seen.set(name, part.slice(eq + 1));
  }
  const text = (name: string): string | undefined => {
    const v = seen.get(name);
    return v === undefined ? undefined : Buffer.from(percentDecode(uri, v)).toString('utf8');
  };
  const type = text('type');
  if (type !== undefined && type !== 'private') throw invalid(uri, 'a CA key reference names a private key');
  const token = text('token');
  const serial = text('serial');
  const object = text('object');
  const idText = seen.get('id');
  const id = idText === undefined ? undefined : percentDecode(uri, idText);
  if (token === undefined && serial === undefined) throw invalid(uri, 'it names no token (token= or serial=)');
  if (object === undefined && id === undefined) throw invalid(uri, 'it names no key (object= or id=)');
  if (id?.length === 0) throw invalid(uri, 'the id is empty');
  return {
    ...(token === undefined ? {} : { token }),
    ...(serial === undefined ? {} : { serial }),
    ...(object === undefined ? {} : { object }),
    ...(id === undefined ? {} : { id }),
  };
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

function percentEncode(value: string): string {
  let out = '';
  for (const ch of value) {
    if (UNRESERVED.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The URI of a key (what `mutual ca init --pkcs11-token` writes into ca.yaml). */
export function formatPkcs11Uri(ref: Pkcs11KeyRef): string {
  const parts: string[] = [];
  if (ref.token !== undefined) parts.push(`token=${percentEncode(ref.token)}`);
  if (ref.serial !== undefined) parts.push(`serial=${percentEncode(ref.serial)}`);
  if (ref.object !== undefined) parts.push(`object=${percentEncode(ref.object)}`);
  if (ref.id !== undefined) parts.push(`id=${[...ref.id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`);
  parts.push('type=private');
  return `pkcs11:${parts.join(';')}`;
}
