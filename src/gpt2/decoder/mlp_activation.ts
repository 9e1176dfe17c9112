/**
 * The MLP's activation, where it is not fused into the matmul (GPT-2's gelu_tanh is: ../../tensor/wasm/gelu_kernel.ts):
 * elementwise in float64 with the deterministic functions of ../../tensor/det_special.ts, rounded once to float32.
 *
 *   gelu_tanh  0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))   GPT-2's gelu_new, Gemma's gelu_pytorch_tanh
 *   gelu_erf   x·Φ(x)                                      GPT-NeoX's "gelu" (torch's exact GELU)
 *   silu       x·σ(x)                                      Llama's "silu"
 *
 * A gated MLP reads [gate | up] rows (2·f wide) and writes act(gate)·up rows (f wide), the product in float64.
 */
import { geluScalar } from "../../tensor/det_math.ts";
import { geluErfScalar, siluScalar } from "../../tensor/det_special.ts";
import type { Activation } from "./config.ts";

export function activationFunction(act: Activation): (x: number) => number {
  switch (act) {
    case "gelu_tanh": return geluScalar;
    case "gelu_erf": return geluErfScalar;
    case "silu": return siluScalar;
  }
}

export function activateInPlace(h: Float32Array, count: number, act: Activation): void {
  const f = activationFunction(act);
  for (let i = 0; i < count; i++) h[i] = f(h[i]!);
}

export function gatedActivation(gateUp: Float32Array, rows: number, width: number, act: Activation, out: Float32Array): void {
  const f = activationFunction(act);
  for (let r = 0; r < rows; r++) {
    const src = r * 2 * width, dst = r * width;
    for (let j = 0; j < width; j++) out[dst + j] = f(gateUp[src + j]!) * gateUp[src + width + j]!;
  }
}
