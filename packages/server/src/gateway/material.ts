/**
 * Listener material from files (or, for `tls.fromCa`, the server certificate from a credential
 * source the composition root keeps renewed): the server certificate and chain, its key, the trust bundles.
 * Everything is checked before use (parses, key matches, OpenSSL accepts the context, the verifier
 * accepts every anchor), so a bad file on reload is refused and the running material kept.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { MutualError, createVerifier, encodePem, extractIdentity, readDerObjects, readFileCapped } from '@mutual/sdk';
import type { Verifier } from '@mutual/sdk';
import type { GatewayListenerConfig, LoadedGatewayConfig } from '../config/index.js';
import { secureContextOptions, type ListenerMaterial } from './tls-options.js';

export interface LoadedListenerMaterial extends ListenerMaterial {
  /** DER of each trust anchor. */
  readonly anchors: readonly Uint8Array[];
  /** The server certificate's URI SAN (XFCC `By=`), if it has one. */
  readonly serverUri: string | undefined;
  readonly serverNotAfter: Date;
  readonly serverFingerprint: string;
  readonly verifier: Verifier;
}

function invalid(file: string, reason: string, cause?: unknown): MutualError {
  return new MutualError('ERR_GATEWAY_MATERIAL_INVALID', {
    message: `${file}: ${reason}`,
    details: { file, reason },
    ...(cause !== undefined ? { cause } : {}),
  });
}

async function readCerts(file: string): Promise<Uint8Array[]> {
  let ders: Uint8Array[];
  try {
    ders = readDerObjects(await readFileCapped(file, 1024 * 1024), ['CERTIFICATE']);
  } catch (err) {
    throw invalid(file, err instanceof Error ? err.message : 'cannot read certificates', err);
  }
  if (ders.length === 0) throw invalid(file, 'holds no certificate');
  return ders;
}

const pemOf = (ders: readonly Uint8Array[]): string => ders.map((d) => encodePem(d, 'CERTIFICATE')).join('\n') + '\n';

/**
 * The server certificate (chain, leaf first) and key of a `tls.fromCa` listener, as its credential
 * source holds them now; undefined when the listener has none (yet).
 */
export type ServerCertificateSource = (
  listener: string,
) => { readonly chainPem: string; readonly keyPem: string } | undefined;

async function serverPair(
  loaded: LoadedGatewayConfig,
  listener: GatewayListenerConfig,
  source: ServerCertificateSource | undefined,
): Promise<{ chain: Uint8Array[]; keyPem: string; certFile: string; keyFile: string }> {
  const tls = listener.tls;
  if ('fromCa' in tls) {
    const label = `listeners.${listener.name}.tls.fromCa`;
    const cur = source?.(listener.name);
    if (cur === undefined) throw invalid(label, 'no certificate from the CA yet');
    const chain = readDerObjects(Buffer.from(cur.chainPem), ['CERTIFICATE']);
    if (chain.length === 0) throw invalid(label, 'the CA certificate holds no certificate');
    return { chain, keyPem: cur.keyPem, certFile: label, keyFile: label };
  }
  const certFile = loaded.resolve(tls.certificate);
  const keyFile = loaded.resolve(tls.key);
  const chain = await readCerts(certFile);
  if (tls.chain !== undefined) chain.push(...(await readCerts(loaded.resolve(tls.chain))));
  try {
    return { chain, keyPem: (await readFileCapped(keyFile, 256 * 1024)).toString('utf8'), certFile, keyFile };
  } catch (err) {
    throw invalid(keyFile, 'cannot read the key', err);
  }
}

/** Reads and checks a listener's trust bundles. */
export async function loadListenerTrust(
  loaded: LoadedGatewayConfig,
  listener: GatewayListenerConfig,
): Promise<{ anchors: Uint8Array[]; verifier: Verifier }> {
  const anchors: Uint8Array[] = [];
  for (const b of listener.clientAuth.trustBundles) anchors.push(...(await readCerts(loaded.resolve(b))));
  const trustFile = loaded.resolve(listener.clientAuth.trustBundles[0] as string);
  const verifier = createVerifier({ anchors, maxDepth: listener.clientAuth.maxChainDepth });
  const anchorErrors = (verifier as { anchorErrors?: readonly string[] }).anchorErrors ?? [];
  if (anchorErrors.length > 0) throw invalid(trustFile, `a trust anchor does not parse: ${anchorErrors[0] ?? ''}`);
  return { anchors, verifier };
}

/** Reads and checks one listener's certificate, key and trust bundles. */
export async function loadListenerMaterial(
  loaded: LoadedGatewayConfig,
  listener: GatewayListenerConfig,
  source?: ServerCertificateSource,
): Promise<LoadedListenerMaterial> {
  const { chain, keyPem, certFile, keyFile } = await serverPair(loaded, listener, source);
  const leafDer = chain[0] as Uint8Array;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafDer);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw invalid(keyFile, 'does not match the certificate');
  } catch (err) {
    if (err instanceof MutualError) throw err;
    throw invalid(keyFile, 'is not a usable private key for the certificate', err);
  }

  const { anchors, verifier } = await loadListenerTrust(loaded, listener);

  const material = { certificatePem: pemOf(chain), keyPem, trustPem: pemOf(anchors) };
  try {
    createSecureContext(secureContextOptions(material));
  } catch (err) {
    throw invalid(certFile, `OpenSSL refuses the certificate, key or trust bundle (${(err as Error).message})`, err);
  }
  let serverUri: string | undefined;
  try {
    const id = extractIdentity(leafDer);
    serverUri = id.spiffeId ?? id.uris[0] ?? undefined;
  } catch (err) {
    throw invalid(certFile, 'the server certificate does not parse', err);
  }
  return {
    ...material,
    anchors,
    serverUri,
    serverNotAfter: new Date(leaf.validTo),
    serverFingerprint: leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
    verifier,
  };
}

/** The files a listener's material is read from (watched for hot reload). */
export function listenerFiles(loaded: LoadedGatewayConfig, listener: GatewayListenerConfig): string[] {
  const tls = listener.tls;
  const own = 'fromCa' in tls ? [] : [tls.certificate, tls.key, ...(tls.chain !== undefined ? [tls.chain] : [])];
  return [...own, ...listener.clientAuth.trustBundles].map((f) => loaded.resolve(f));
}
