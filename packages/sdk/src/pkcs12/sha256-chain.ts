/**
 * Iterated SHA-256 of a 32-byte value (x ← SHA-256(x), `times` times), written from FIPS 180-4.
 * The PKCS#12 KDF needs ~10^5 such rounds; one node:crypto Hash object per round costs ~10× more.
 * Checked against node:crypto in kdf.test.ts.
 */
const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const H0 = Uint32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

export function sha256Iterate(input: Uint8Array, times: number): Uint8Array {
  if (input.length !== 32) throw new RangeError('sha256Iterate takes a 32-byte value');
  const w = new Uint32Array(64);
  const state = new Uint32Array(8);
  const x = new Uint32Array(8);
  for (let i = 0; i < 8; i++) {
    x[i] =
      (((input[4 * i] ?? 0) << 24) |
        ((input[4 * i + 1] ?? 0) << 16) |
        ((input[4 * i + 2] ?? 0) << 8) |
        (input[4 * i + 3] ?? 0)) >>>
      0;
  }
  for (let round = 0; round < times; round++) {
    // One block: the 32-byte message, 0x80, zeros, and the bit length 256.
    for (let i = 0; i < 8; i++) w[i] = x[i] ?? 0;
    w[8] = 0x80000000;
    for (let i = 9; i < 15; i++) w[i] = 0;
    w[15] = 256;
    for (let i = 16; i < 64; i++) {
      const w15 = w[i - 15] ?? 0;
      const w2 = w[i - 2] ?? 0;
      const s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3);
      const s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10);
      w[i] = ((w[i - 16] ?? 0) + s0 + (w[i - 7] ?? 0) + s1) >>> 0;
    }
    state.set(H0);
    let a = H0[0] ?? 0;
    let b = H0[1] ?? 0;
    let c = H0[2] ?? 0;
    let d = H0[3] ?? 0;
    let e = H0[4] ?? 0;
    let f = H0[5] ?? 0;
    let g = H0[6] ?? 0;
    let h = H0[7] ?? 0;
    for (let i = 0; i < 64; i++) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + (K[i] ?? 0) + (w[i] ?? 0)) >>> 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    x[0] = ((state[0] ?? 0) + a) >>> 0;
    x[1] = ((state[1] ?? 0) + b) >>> 0;
    x[2] = ((state[2] ?? 0) + c) >>> 0;
    x[3] = ((state[3] ?? 0) + d) >>> 0;
    x[4] = ((state[4] ?? 0) + e) >>> 0;
    x[5] = ((state[5] ?? 0) + f) >>> 0;
    x[6] = ((state[6] ?? 0) + g) >>> 0;
    x[7] = ((state[7] ?? 0) + h) >>> 0;
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const v = x[i] ?? 0;
    out[4 * i] = v >>> 24;
    out[4 * i + 1] = (v >>> 16) & 0xff;
    out[4 * i + 2] = (v >>> 8) & 0xff;
    out[4 * i + 3] = v & 0xff;
  }
  return out;
}
