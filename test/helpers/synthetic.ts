/** Test data for SAE training: rows that are sparse non-negative combinations of a hidden unit-norm dictionary. */
import { Rng } from "../../src/tensor/rng.ts";

export interface SyntheticOptions {
  /** The RNG stream name (different suites draw different data). */
  stream?: string;
  /** Pick atoms with a skewed (Zipf-like) frequency instead of uniformly. */
  skewed?: boolean;
  /** Standard deviation of Gaussian noise added to every coordinate. */
  noise?: number;
}

/** `active` atoms per row with coefficients in [0.5, 2.5]: what an SAE should find. */
export function sparseDictionaryRows(rows: number, dIn: number, atoms: number, active: number, seed: number, options: SyntheticOptions = {}): Float32Array {
  const rng = Rng.stream(seed, options.stream ?? "synthetic");
  const dict = rng.fillNormal(new Float32Array(atoms * dIn)) as Float32Array;
  for (let a = 0; a < atoms; a++) {
    let s = 0;
    for (let j = 0; j < dIn; j++) s += dict[a * dIn + j]! ** 2;
    for (let j = 0; j < dIn; j++) dict[a * dIn + j] /= Math.sqrt(s);
  }
  const x = new Float32Array(rows * dIn);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < active; t++) {
      const a = options.skewed ? Math.min(atoms - 1, Math.floor(atoms * rng.uniform() ** 2)) : rng.int(atoms);
      const c = 0.5 + rng.uniform() * 2;
      for (let j = 0; j < dIn; j++) x[r * dIn + j] += c * dict[a * dIn + j]!;
    }
    if (options.noise) for (let j = 0; j < dIn; j++) x[r * dIn + j] += options.noise * rng.normal();
  }
  return x;
}
