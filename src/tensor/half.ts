/**
 * IEEE 754 binary16 ("F16") and bfloat16 ("BF16") ↔ float32, exact on every code.
 *
 * Decoding builds the float32 bit pattern directly: f16 has 1 sign, 5 exponent (bias 15) and 10 mantissa bits;
 * normal codes re-bias the exponent to 127 and shift the mantissa up 13 bits; subnormals are normalised by
 * shifting until the implicit bit appears; Inf/NaN keep an all-ones exponent. bf16 is simply the top half of a
 * float32. Bulk decoding uses a 65536-entry table built once with the scalar decoder.
 * Encoding rounds to nearest, ties to even, overflowing to ±Inf, and keeps NaN a NaN (quiet).
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function fromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

function toBits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function f16ToF32(code: number): number {
  const sign = (code & 0x8000) << 16;
  const exp = (code >> 10) & 0x1f;
  let mant = code & 0x3ff;
  if (exp === 0x1f) return fromBits(sign | 0x7f800000 | (mant << 13)); // Inf / NaN
  if (exp !== 0) return fromBits(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  if (mant === 0) return fromBits(sign); // ±0
  // Subnormal: value = mant · 2^-24. Normalise so the leading 1 becomes the implicit bit.
  let e = -14;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return fromBits(sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13));
}

export function f32ToF16(x: number): number {
  const bits = toBits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00; // NaN stays NaN (quiet), Inf
  const e = exp - 127 + 15; // re-biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    // Subnormal or zero in f16: shift the full significand (with implicit 1) into place, rounding to nearest even.
    if (e < -10) return sign; // too small even for rounding up to the smallest subnormal
    const full = mant | 0x800000;
    const shift = 14 - e; // 24-bit significand → 10-bit subnormal mantissa
    const half = 1 << (shift - 1);
    const rem = full & ((1 << shift) - 1);
    let out = full >>> shift;
    if (rem > half || (rem === half && (out & 1) === 1)) out++;
    return sign | out; // a carry into bit 10 correctly yields the smallest normal
  }
  let out = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (out & 1) === 1)) out++; // may carry into the exponent: still correct (→ Inf at the top)
  return sign | out;
}

export function bf16ToF32(code: number): number {
  return fromBits((code & 0xffff) << 16);
}

export function f32ToBf16(x: number): number {
  const bits = toBits(x);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff; // quiet NaN
  const rounding = 0x7fff + ((bits >>> 16) & 1); // round to nearest, ties to even
  return ((bits + rounding) >>> 16) & 0xffff;
}

let f16Table: Float32Array | null = null;

export function decodeF16(codes: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let c = 0; c < 65536; c++) f16Table[c] = f16ToF32(c);
  }
  const table = f16Table;
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]!]!;
  return out;
}

export function encodeF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
  return out;
}

export function decodeBf16(codes: Uint16Array): Float32Array {
  const out = new Float32Array(codes.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < codes.length; i++) bits[i] = codes[i]! << 16;
  return out;
}

export function encodeBf16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i]!);
  return out;
}
