/**
 * The elementary functions the model families need beyond exp and log — pow, tanh, sin/cos, the exact (erf) GELU and SiLU —
 * built, like ./det_math.ts's detExp, from + − × ÷, bit manipulation and detExp only: every operation is exactly
 * rounded IEEE arithmetic, so each result is the same bit pattern on every engine (Math.log, Math.tanh, Math.sin and
 * Math.pow are not required to be correctly rounded, and engines differ in their last bits).
 *
 *   detPow(b, y)     detExp(y·detLog(b)) for b > 0 (detLog: ./rng.ts): rotary inverse frequencies base^(−2i/dim)
 *   detExpm1(y)      e^y − 1 without cancellation near 0 (Taylor for |y| ≤ 0.5)
 *   detTanh(x)       its Taylor series for |x| < 0.1, (1 − e^−2|x|)/(1 + e^−2|x|) beyond: a few ulps everywhere
 *   detSinCos(x)     x = k·π/2 + r with π/2 in three parts (Cody–Waite: the first two products exact for |k| < 2^26),
 *                    then Taylor polynomials on |r| ≤ π/4 (degree 21/20, truncation < 1e-22); abs error ≲ 1e-16 for
 *                    |x| ≤ 1e6 (rotary angles are position × inverse frequency)
 *   normalCdf(x)     Φ(x): on [−8, 8) a degree-13 Taylor expansion about the centre of each of 64 intervals of width
 *                    1/4 (coefficients from Φ'=φ and the Hermite recurrence φ⁽ⁿ⁾ = (−1)ⁿ Heₙ φ, built once at load
 *                    from Φ at the centres, which come from erf's everywhere-positive series or erfc's continued
 *                    fraction); outside, the continued fraction (or 1). ≤ 1e-15 absolute.
 *   geluErfScalar(x) x·Φ(x): GPT-NeoX's "gelu" (torch's exact erf GELU)
 *   siluScalar(x)    x / (1 + e^−x): Llama's "silu"
 */
import { detExp } from "./det_math.ts";
import { detLog } from "./rng.ts";

const bits = new DataView(new ArrayBuffer(8));

/** b^y for b > 0 (b = 0 or negative bases are not needed and give NaN / 0 like exp(y·log b)). */
export function detPow(base: number, y: number): number {
  if (y === 0) return 1;
  return detExp(y * detLog(base));
}

/** e^y − 1. */
export function detExpm1(y: number): number {
  if (!(Math.abs(y) <= 0.5)) return y !== y ? NaN : detExp(y) - 1;
  let term = y;
  let sum = y;
  for (let n = 2; n <= 20; n++) {
    term = (term * y) / n;
    sum += term;
  }
  return sum;
}

/** tanh's Taylor coefficients x·Σ cₙ x²ⁿ (from the Bernoulli numbers), for |x| < 0.1 (next term < 1e-19 relative). */
const TANH_TAYLOR = [1, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075, -929569 / 638512875];

/**
 * Hyperbolic tangent: the Taylor series near 0 (no cancellation), (1 − e^−2|x|)/(1 + e^−2|x|) beyond (its cancellation
 * costs at most a few ulps from |x| = 0.1 on), ±1 past 22.
 */
export function detTanh(x: number): number {
  if (x !== x) return NaN;
  const a = Math.abs(x);
  if (a < 0.1) {
    const x2 = x * x;
    let p = TANH_TAYLOR[7]!;
    for (let i = 6; i >= 0; i--) p = p * x2 + TANH_TAYLOR[i]!;
    return x * p;
  }
  if (a > 22) return x > 0 ? 1 : -1; // tanh(22) = 1 − 1.5e-19: 1 in float64
  const e = detExp(-2 * a);
  const t = (1 - e) / (1 + e);
  return x < 0 ? -t : t;
}

/** π/2 = PIO2_1 + PIO2_2 + PIO2_3: PIO2_1 and PIO2_2 have 26 and 27 significant bits (so k·PIO2_1 and k·PIO2_2 are
 * exact for |k| < 2^26), PIO2_3 is the part of π/2 that Math.PI/2 itself cannot hold (π/2 − Math.PI/2). */
const PIO2 = Math.PI / 2;
const PIO2_1 = (() => {
  bits.setFloat64(0, PIO2);
  bits.setUint32(4, bits.getUint32(4) & 0xf8000000); // keep 53 − 27 = 26 significant bits
  return bits.getFloat64(0);
})();
const PIO2_2 = PIO2 - PIO2_1;
const PIO2_3 = 6.123233995736766e-17;

/** sin(r) and cos(r) for |r| ≤ π/4 + ε: Taylor to degree 21 and 20, by Horner in r². */
function sinCosReduced(r: number, out: Float64Array): void {
  const r2 = r * r;
  let s = SIN_COEFFS[SIN_COEFFS.length - 1]!;
  for (let i = SIN_COEFFS.length - 2; i >= 0; i--) s = s * r2 + SIN_COEFFS[i]!;
  let c = COS_COEFFS[COS_COEFFS.length - 1]!;
  for (let i = COS_COEFFS.length - 2; i >= 0; i--) c = c * r2 + COS_COEFFS[i]!;
  out[0] = r * s;
  out[1] = c;
}

function factorialInverse(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f /= i;
  return f;
}

/** sin r = r·Σ SIN_COEFFS[n]·r^(2n), cos r = Σ COS_COEFFS[n]·r^(2n): (−1)^n/(2n+1)! and (−1)^n/(2n)!. */
const SIN_COEFFS = Array.from({ length: 11 }, (_, n) => (n % 2 === 0 ? 1 : -1) * factorialInverse(2 * n + 1));
const COS_COEFFS = Array.from({ length: 11 }, (_, n) => (n % 2 === 0 ? 1 : -1) * factorialInverse(2 * n));

/** out[0] = sin x, out[1] = cos x. */
export function detSinCos(x: number, out: Float64Array): void {
  if (!Number.isFinite(x)) {
    out[0] = NaN;
    out[1] = NaN;
    return;
  }
  const k = Math.floor(x / PIO2 + 0.5);
  const r = x - k * PIO2_1 - k * PIO2_2 - k * PIO2_3;
  sinCosReduced(r, out);
  const s = out[0]!, c = out[1]!;
  switch (((k % 4) + 4) % 4) {
    case 0: out[0] = s; out[1] = c; break;
    case 1: out[0] = c; out[1] = -s; break;
    case 2: out[0] = -s; out[1] = -c; break;
    default: out[0] = -c; out[1] = s; break;
  }
}

// ── Φ, the standard normal CDF ─────────────────────────────────────────────────────────────────────────────────
const INV_SQRT_2PI = 0.3989422804014327; // 1/√(2π)
const INV_SQRT_PI = 0.5641895835477563; // 1/√π

/** erf(z) for 0 ≤ z ≤ 3 by 2z/√π·e^(−z²)·Σ (2z²)ⁿ/(1·3·5···(2n+1)): every term positive, no cancellation. */
function erfSeries(z: number): number {
  const z2 = 2 * z * z;
  let term = 1;
  let sum = 1;
  for (let n = 1; n < 200 && term > 1e-18 * sum; n++) {
    term = (term * z2) / (2 * n + 1);
    sum += term;
  }
  return 2 * z * INV_SQRT_PI * detExp(-z * z) * sum;
}

/** erfc(z) for z ≥ 2 by its continued fraction e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))) (Lentz). */
function erfcFraction(z: number): number {
  const tiny = 1e-300;
  let f = z, c = z, d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = z + a * d;
    d = d === 0 ? 1 / tiny : 1 / d;
    c = z + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return (INV_SQRT_PI * detExp(-z * z)) / f;
}

/** Φ(x) computed directly (slow, accurate): for the table's centres and for |x| ≥ 8. */
function normalCdfDirect(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  if (z <= 3) {
    const e = erfSeries(z);
    return x >= 0 ? 0.5 + 0.5 * e : 0.5 - 0.5 * e;
  }
  const tail = 0.5 * erfcFraction(z);
  return x >= 0 ? 1 - tail : tail;
}

const CDF_LO = -8;
const CDF_INTERVALS = 64;
const CDF_WIDTH = (8 - CDF_LO) / CDF_INTERVALS; // 1/4
const CDF_DEGREE = 13;
/** For interval i: Taylor coefficients a₀…a₁₃ of Φ about the interval's centre, a_n = Φ⁽ⁿ⁾(c)/n!. */
const CDF_TAYLOR = (() => {
  const table = new Float64Array(CDF_INTERVALS * (CDF_DEGREE + 1));
  for (let i = 0; i < CDF_INTERVALS; i++) {
    const c = CDF_LO + (i + 0.5) * CDF_WIDTH;
    const phi = INV_SQRT_2PI * detExp(-0.5 * c * c);
    table[i * (CDF_DEGREE + 1)] = normalCdfDirect(c);
    // Φ⁽ⁿ⁾ = φ⁽ⁿ⁻¹⁾ = (−1)ⁿ⁻¹·He_{n−1}(c)·φ(c), with He₀ = 1, He₁ = x, He_{k+1} = x·He_k − k·He_{k−1}.
    const he = new Float64Array(CDF_DEGREE);
    he[0] = 1;
    he[1] = c;
    for (let k = 1; k + 1 < CDF_DEGREE; k++) he[k + 1] = c * he[k]! - k * he[k - 1]!;
    let inverseFactorial = 1;
    for (let n = 1; n <= CDF_DEGREE; n++) {
      inverseFactorial /= n;
      table[i * (CDF_DEGREE + 1) + n] = ((n - 1) % 2 === 0 ? 1 : -1) * he[n - 1]! * phi * inverseFactorial;
    }
  }
  return table;
})();

/** Φ(x), the standard normal cumulative distribution function. */
export function normalCdf(x: number): number {
  if (x !== x) return NaN;
  if (!(x >= CDF_LO && x < -CDF_LO)) return normalCdfDirect(x);
  const i = Math.floor((x - CDF_LO) / CDF_WIDTH);
  const u = x - (CDF_LO + (i + 0.5) * CDF_WIDTH);
  const base = i * (CDF_DEGREE + 1);
  let p = CDF_TAYLOR[base + CDF_DEGREE]!;
  for (let n = CDF_DEGREE - 1; n >= 0; n--) p = p * u + CDF_TAYLOR[base + n]!;
  return p;
}

/** The exact GELU, x·Φ(x) (torch's nn.functional.gelu, Hugging Face's "gelu"). */
export function geluErfScalar(x: number): number {
  return x * normalCdf(x);
}

/** SiLU (swish), x·σ(x) = x / (1 + e^−x). */
export function siluScalar(x: number): number {
  return x / (1 + detExp(-x));
}
