/**
 * @mutual/sdk: the published library of mutual — wire contract, identity, verification,
 * credentials, TLS helpers, CA client and errors. No native dependencies, no database drivers,
 * and nothing here reads the environment or exits the process.
 */
export * from './errors/index.js';
export * from './files/index.js';
export * from './duration/index.js';
export * from './pem/index.js';
export * from './keys/index.js';
export * from './identity/index.js';
export * from './pkcs12/index.js';
export * from './verify/index.js';
export * from './ca-client/index.js';
export * from './renewal/index.js';
export * from './authorize/index.js';
export * from './credentials/index.js';
export * from './mtls/index.js';
