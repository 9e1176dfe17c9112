/**
 * TransformerLens hook names for GPT-2, and how deep into the network each one sits, so a forward pass can
 * stop at the deepest hook a caller asked for (layer 6's resid_pre needs blocks 0–5 only).
 */
import type { GPT2Config } from "./config.ts";

export const BLOCK_HOOKS = ["hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"] as const;

/** Every TransformerLens hook name of a GPT-2 of this shape, in forward order. */
export function allHookNames(config: GPT2Config): string[] {
  const names = ["hook_embed", "hook_pos_embed"];
  for (let l = 0; l < config.nLayer; l++) for (const h of BLOCK_HOOKS) names.push(`blocks.${l}.${h}`);
  names.push("ln_final.hook_normalized");
  return names;
}

/**
 * Number of transformer blocks that must run to produce a hook. resid_pre of block L is the output of block
 * L−1, so it needs L blocks; the other block hooks need L+1; the final layer norm needs all of them.
 */
export function blocksNeededFor(hook: string, config: GPT2Config): number {
  if (hook === "hook_embed" || hook === "hook_pos_embed") return 0;
  if (hook === "ln_final.hook_normalized") return config.nLayer;
  const m = /^blocks\.(\d+)\.(\w+)$/.exec(hook);
  if (m) {
    const layer = Number(m[1]);
    const name = m[2]!;
    if (layer < config.nLayer && (BLOCK_HOOKS as readonly string[]).includes(name)) {
      return name === "hook_resid_pre" ? layer : layer + 1;
    }
  }
  throw new Error(`unknown hook "${hook}" for a ${config.nLayer}-layer GPT-2; valid hooks: hook_embed, hook_pos_embed, blocks.{0..${config.nLayer - 1}}.{${BLOCK_HOOKS.join(",")}}, ln_final.hook_normalized`);
}

/** Hooks whose activations live in the residual stream (and so are centred in the TransformerLens convention). */
export function writesResidualStream(hook: string): boolean {
  return hook !== "ln_final.hook_normalized";
}
