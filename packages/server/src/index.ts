/**
 * @mutual/server: the CA and the gateway. Modules: pki (pure X.509), ca (issuance rules and ports),
 * store (SQLite and PostgreSQL), keys (issuer signers), config (validated, frozen configuration),
 * main (composition roots). Import each through its own index.ts.
 */
export {};
