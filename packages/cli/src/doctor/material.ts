/** The client's side of the exchange: certificate chain, key, trust anchors and CRLs, from flags or `--identity`. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import path from 'node:path';
import { MutualError } from '@mutual/sdk';
import { contextDir } from '../client-context.js';
import type { CliContext } from '../context.js';

export interface MaterialFlags {
  cert?: string | undefined;
  key?: string | undefined;
  ca?: string[] | undefined;
  crl?: string[] | undefined;
  identity?: string | undefined;
}

export interface Material {
  /** Client certificate, leaf first then intermediates (PEM), when given. */
  readonly chainPem: string | undefined;
  readonly keyPem: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  /** Anchors to judge the server with (PEM certificates). */
  readonly anchors: string[];
  /** Where the anchors came from, for messages and fixes. */
  readonly anchorSource: string;
  /** True when the anchors were named by the user (--ca, --identity or the saved context), not the system store. */
  readonly anchorsExplicit: boolean;
  readonly crls: string[];
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

export function pemBlocks(text: string, labels: readonly string[]): string[] {
  return [...text.matchAll(PEM_BLOCK)].filter((m) => labels.includes(m[1] ?? '')).map((m) => m[0]);
}

/** `<context dir>/identities/NAME`: where the renewal agent links each identity it manages. */
export function identityDir(ctx: CliContext, name: string): string {
  return path.join(contextDir(ctx), 'identities', name);
}

export async function loadMaterial(ctx: CliContext, flags: MaterialFlags): Promise<Material> {
  let certFile = flags.cert === undefined ? undefined : path.resolve(ctx.cwd, flags.cert);
  let keyFile = flags.key === undefined ? undefined : path.resolve(ctx.cwd, flags.key);
  let caFiles = (flags.ca ?? []).map((f) => path.resolve(ctx.cwd, f));
  if (flags.identity !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(flags.identity)) {
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
        message: `--identity "${flags.identity}" is not an identity name (letters, digits, . _ -).`,
      });
    }
    const dir = identityDir(ctx, flags.identity);
    const files = ['cert.pem', 'key.pem'].map((f) => path.join(dir, f));
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      throw new MutualError('ERR_CLI_IDENTITY_NOT_FOUND', {
        message: `No identity "${flags.identity}": ${missing.join(', ')} not found.`,
        details: { dir },
      });
    }
    certFile ??= files[0];
    keyFile ??= files[1];
    const ca = path.join(dir, 'ca.pem');
    if (caFiles.length === 0 && existsSync(ca)) caFiles = [ca];
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Give --cert and --key together.' });
  }
  const read = async (f: string): Promise<string> => {
    try {
      return await readFile(f, 'utf8');
    } catch (err) {
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
        message: `Cannot read ${f}: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  };
  const chainPem = certFile === undefined ? undefined : await read(certFile);
  if (chainPem !== undefined && pemBlocks(chainPem, ['CERTIFICATE']).length === 0) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: `${certFile ?? ''} holds no CERTIFICATE block.` });
  }
  const keyPem = keyFile === undefined ? undefined : await read(keyFile);
  const crls: string[] = [];
  for (const f of flags.crl ?? []) crls.push(...pemBlocks(await read(path.resolve(ctx.cwd, f)), ['X509 CRL', 'CRL']));

  let anchors: string[] = [];
  let anchorSource: string;
  let anchorsExplicit = true;
  if (caFiles.length > 0) {
    for (const f of caFiles) anchors.push(...pemBlocks(await read(f), ['CERTIFICATE']));
    if (anchors.length === 0) {
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: '--ca files hold no CERTIFICATE block.' });
    }
    anchorSource = caFiles.join(', ');
  } else {
    const saved = path.join(contextDir(ctx), 'root.crt');
    if (existsSync(saved)) {
      anchors = pemBlocks(await read(saved), ['CERTIFICATE']);
      anchorSource = `${saved} (saved by mutual ca bootstrap)`;
    } else {
      anchors = [...rootCertificates];
      anchorSource = "Node.js's public root store";
      anchorsExplicit = false;
    }
  }
  return { chainPem, keyPem, certFile, keyFile, anchors, anchorSource, anchorsExplicit, crls };
}
