/**
 * Seeded random numbers that are the same on every machine and every Node version.
 *
 * Generator: xoshiro128** (Blackman & Vigna, 2018) — 128-bit state, 32-bit outputs, only integer
 * operations (Math.imul, shifts, xor), so every platform produces the same stream.
 * Seeding: SplitMix64 expands a 64-bit key into the 128-bit state. The key of a named stream is
 * FNV-1a-64(name) mixed with the user seed, so `Rng.stream(seed, "init")` and `Rng.stream(seed, "shuffle")`
 * are independent streams and adding a new consumer never shifts the numbers an old one sees.
 *
 * Floating point: uniforms are built from integer bits (exact); normals use the Marsaglia polar method
 * with `detLog` below, a natural logarithm written with + - * / only, because Math.log is not required by
 * the ECMAScript spec to be correctly rounded and may differ between engines. sqrt is exact (IEEE 754).
 */

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64 step: returns [nextState, output]. Used only at seeding time, so BigInt's cost is irrelevant. */
function splitMix64(state: bigint): [bigint, bigint] {
  const s = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [s, z ^ (z >> 31n)];
}

/** FNV-1a 64-bit over the UTF-8 bytes of a string. */
export function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & MASK64;
  }
  return h;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const LN2 = 0.6931471805599453;
const SQRT_HALF = 0.7071067811865476;
/** 1/(2i+1) for i = 0..13, the atanh series coefficients (each a correctly rounded double constant). */
const ATANH_COEFFS = Array.from({ length: 14 }, (_, i) => 1 / (2 * i + 1));
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
// Which u32 word holds the sign/exponent of a float64 depends on the platform's endianness.
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** ln(m) for m in [√½, √2) by the atanh series, 14 terms (truncation below 1e-23). Used to build the table. */
function seriesLog(m: number): number {
  const t = (m - 1) / (m + 1);
  const t2 = t * t;
  let sum = ATANH_COEFFS[ATANH_COEFFS.length - 1]!;
  for (let i = ATANH_COEFFS.length - 2; i >= 0; i--) sum = sum * t2 + ATANH_COEFFS[i]!;
  return 2 * sum * t;
}

/** ln(1 + j/128), j = 0..128, computed once with the exact-operation series (so identical everywhere). */
const LOG_TABLE = Float64Array.from({ length: 129 }, (_, j) => {
  const c = 1 + j / 128;
  return c < 2 * SQRT_HALF ? seriesLog(c) : seriesLog(c / 2) + LN2;
});

/**
 * Natural log of a positive finite number using only exactly-rounded IEEE operations, so the result is
 * bit-identical everywhere (Math.log is not required to be correctly rounded and may differ between engines).
 * x = m · 2^e with m in [1, 2); m = c · r with c = 1 + j/128 from a table of ln c and r in [1, 1 + 1/128), so
 * ln r = 2·atanh(t), t = (r−1)/(r+1) ≤ 0.0039, needs only four odd terms (truncation ≈ 1e-22).
 */
export function detLog(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) {
    if (x === 0) return -Infinity;
    if (x === Infinity) return Infinity;
    return NaN;
  }
  let e = 0;
  // Subnormals: scale into the normal range first (multiplying by a power of two is exact).
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984; // 2^54
    e -= 54;
  }
  f64[0] = x;
  const hi = u32[HI]!;
  e += ((hi >>> 20) & 0x7ff) - 1023;
  u32[HI] = (hi & 0x800fffff) | (1023 << 20); // mantissa with exponent 0: m in [1, 2)
  const m = f64[0]!;
  const j = Math.floor((m - 1) * 128); // exact: m − 1 and the scaling by 128 are exact
  const r = m / (1 + j / 128);
  const t = (r - 1) / (r + 1);
  const t2 = t * t;
  const lnR = 2 * t * (1 + t2 * (1 / 3 + t2 * (1 / 5 + t2 * (1 / 7))));
  return LOG_TABLE[j]! + lnR + e * LN2;
}

/** A seeded random number generator (xoshiro128**, seeded through SplitMix64); named streams are independent. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  // The polar method makes normals in pairs; the second waits here (a flag, not null, keeps the field a double).
  private spareNormal = 0;
  private hasSpare = false;

  /** A generator seeded from a 64-bit key (number or bigint). Prefer `Rng.stream` for named streams. */
  constructor(seed: number | bigint) {
    if (typeof seed === "number" && (!Number.isSafeInteger(seed))) {
      throw new Error(`Rng: seed must be a safe integer, got ${seed}`);
    }
    let state = BigInt.asUintN(64, BigInt(seed));
    const words: number[] = [];
    for (let i = 0; i < 2; i++) {
      const [next, out] = splitMix64(state);
      state = next;
      words.push(Number(out & 0xffffffffn), Number(out >> 32n));
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero state is a fixed point
  }

  /** Independent stream for (seed, name): e.g. Rng.stream(3, "sae/init"). */
  static stream(seed: number, name: string): Rng {
    if (!Number.isSafeInteger(seed)) throw new Error(`Rng.stream: seed must be a safe integer, got ${seed}`);
    const key = BigInt.asUintN(64, fnv1a64(name) ^ BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n));
    return new Rng(key);
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform double in [lo, hi). */
  uniformRange(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [0, n) without modulo bias (rejection of the short final bucket). n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n); // largest multiple of n that fits in 2^32
    for (;;) {
      const r = this.nextU32();
      if (r < limit) return r % n;
    }
  }

  /** Standard normal (Marsaglia polar method with the deterministic log). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spareNormal;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * detLog(s)) / s);
        this.spareNormal = v * f;
        this.hasSpare = true;
        return u * f;
      }
    }
  }

  /** Fill an array with N(mean, std²) samples. */
  fillNormal(out: Float32Array | Float64Array, mean = 0, std = 1): typeof out {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /** Fill an array with U[lo, hi) samples. */
  fillUniform(out: Float32Array | Float64Array, lo = 0, hi = 1): typeof out {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: any }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}
