import type { Pkcs11ThreadAccess } from '../keys/index.js';
import type { BuildCertificateInput, BuiltCertificate, ParseCsrOptions, ParsedCsr } from '../pki/index.js';

/** A certificate to build, without its issuer: the worker holds issuers registered once by id. */
export type IssueJobInput = Omit<BuildCertificateInput, 'issuer'>;

/** Main thread → worker. */
export type PkiRequest =
  | {
      readonly kind: 'issuer';
      readonly issuerId: number;
      readonly certificateDer: Uint8Array;
      readonly privateKey: BuildCertificateInput['publicKey'];
    }
  | {
      /** An issuer whose key is on a PKCS#11 token: the worker opens a session of its own. */
      readonly kind: 'issuer-on-token';
      readonly issuerId: number;
      readonly certificateDer: Uint8Array;
      readonly access: Pkcs11ThreadAccess;
    }
  | {
      readonly kind: 'csr';
      readonly job: number;
      readonly input: string | Uint8Array;
      readonly options: ParseCsrOptions;
    }
  | {
      readonly kind: 'issue';
      readonly job: number;
      readonly issuerId: number;
      readonly input: IssueJobInput;
      /** The subject key's SPKI DER, so the worker does not export the key again. */
      readonly spki: Uint8Array;
    };

/** A refusal as it crosses the thread boundary: a MutualError's code, message and details, or a plain message. */
export interface WireError {
  readonly code?: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Worker → main thread. */
export type PkiResponse =
  | { readonly job: number; readonly ok: true; readonly value: ParsedCsr | BuiltCertificate }
  | { readonly job: number; readonly ok: false; readonly error: WireError };
