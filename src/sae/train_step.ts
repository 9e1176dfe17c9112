/**
 * One training step, whatever the architecture: its module's forward, loss and backward (./arch/*.ts, built from
 * ./step.ts and ./latent_code.ts), then the shared update — the decoder-gradient projection for unit-norm
 * decoders, optional gradient clipping, Adam on every parameter tensor, decoder renormalisation.
 */
import type { SAETrainConfig } from "./config.ts";
import { normaliseRows, namedTensors, type SAEParams } from "./params.ts";
import { AdamState, adamUpdate } from "./adam.ts";
import { architectureOf } from "./sae.ts";
import type { Architecture } from "./arch/types.ts";
import type { StepStats, StepWorkspace, ParamGrads } from "./step.ts";

export { StepWorkspace, type StepStats, type ParamGrads, type StepContext } from "./step.ts";

/** Give `p` the architecture's extra parameters it lacks, at their initial values (e.g. params from allocateParams). */
export function ensureExtraParams(p: SAEParams, arch: Architecture, cfg: SAETrainConfig): void {
  for (const { name, initial } of arch.extraParams) {
    if (p.extra?.[name]) continue;
    p.extra ??= {};
    p.extra[name] = new Float32Array(p.dSae).fill(initial(cfg));
  }
}

export interface StepOptions {
  /** The sparsity coefficient in force (default: cfg.sparsityCoefficient). */
  coefficient?: number;
  /** The architecture's training buffers (default: fresh ones at their initial values). */
  buffers?: Record<string, number>;
}

/**
 * Forward + backward for a batch x [rows, dIn] (already scaled). Fills ws.grads and returns the statistics.
 * `dead` marks latents that are dead for AuxK; `firedOut`, if given, receives 1 for every latent that fired.
 */
export function lossAndGradients(p: SAEParams, cfg: SAETrainConfig, ws: StepWorkspace, x: Float32Array, rows: number, dead: Uint8Array | null, firedOut?: Uint8Array, options: StepOptions = {}): StepStats {
  const arch = architectureOf(cfg.recipe);
  ensureExtraParams(p, arch, cfg);
  for (const { name } of arch.extraParams) ws.extraGrad(name);
  ws.zeroGrads();
  const buffers = options.buffers ?? { ...arch.buffers };
  return arch.step({ p, cfg, ws, x, rows, dead, ...(firedOut ? { fired: firedOut } : {}), coefficient: options.coefficient ?? cfg.sparsityCoefficient, buffers });
}

/** Remove from each decoder row's gradient its component along that (unit-norm) row. */
export function projectDecoderGradient(p: SAEParams, g: Float32Array): void {
  const { dIn, dSae, wDec } = p;
  for (let j = 0; j < dSae; j++) {
    const o = j * dIn;
    let dot = 0;
    for (let c = 0; c < dIn; c++) dot += g[o + c]! * wDec[o + c]!;
    if (dot === 0) continue;
    for (let c = 0; c < dIn; c++) g[o + c] -= dot * wDec[o + c]!;
  }
}

/** Every gradient tensor by the name of its parameter (namedTensors order). */
function namedGrads(g: ParamGrads): Map<string, Float32Array> {
  return new Map<string, Float32Array>([["wEnc", g.wEnc], ["bEnc", g.bEnc], ["wDec", g.wDec], ["bDec", g.bDec], ...Object.entries(g.extra)]);
}

/**
 * torch.nn.utils.clip_grad_norm_: the L2 norm over every gradient element (float64 sum); if it exceeds maxNorm,
 * every gradient is multiplied by maxNorm / (norm + 1e-6).
 */
export function clipGradients(g: ParamGrads, maxNorm: number): number {
  let sq = 0;
  for (const a of namedGrads(g).values()) for (let i = 0; i < a.length; i++) sq += a[i]! * a[i]!;
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const a of namedGrads(g).values()) for (let i = 0; i < a.length; i++) a[i] *= coef;
  return norm;
}

/** Adam moments for every parameter tensor (the extras' created on first use). */
export class OptimizerState {
  step = 0;
  readonly wEnc: AdamState;
  readonly bEnc: AdamState;
  readonly wDec: AdamState;
  readonly bDec: AdamState;
  readonly extra: Record<string, AdamState> = {};

  constructor(dIn: number, dSae: number, extraNames: readonly string[] = []) {
    this.wEnc = new AdamState(dSae * dIn);
    this.bEnc = new AdamState(dSae);
    this.wDec = new AdamState(dSae * dIn);
    this.bDec = new AdamState(dIn);
    for (const name of extraNames) this.extra[name] = new AdamState(dSae);
  }

  /** The moments of a parameter by name (namedTensors names). */
  stateFor(name: string, size: number): AdamState {
    if (name === "wEnc" || name === "bEnc" || name === "wDec" || name === "bDec") return this[name];
    return (this.extra[name] ??= new AdamState(size));
  }
}

/** Apply the update given gradients in ws.grads: projection, clipping, Adam, renormalisation. */
export function applyUpdate(p: SAEParams, cfg: SAETrainConfig, ws: StepWorkspace, opt: OptimizerState): void {
  const arch = architectureOf(cfg.recipe);
  const g = ws.grads;
  if (arch.unitNormDecoder) projectDecoderGradient(p, g.wDec);
  if (cfg.gradClipNorm > 0) clipGradients(g, cfg.gradClipNorm);
  opt.step += 1;
  const h = { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps };
  const grads = namedGrads(g);
  for (const [name, param] of namedTensors(p)) {
    const grad = grads.get(name);
    if (!grad) throw new Error(`applyUpdate: no gradient for parameter ${name}`);
    adamUpdate(param, grad, opt.stateFor(name, param.length), opt.step, h);
  }
  if (arch.unitNormDecoder) normaliseRows(p.wDec, p.dSae, p.dIn);
}
