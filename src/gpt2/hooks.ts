/**
 * TransformerLens hook names for every family, and how deep into the network each one sits, so a forward pass can
 * stop at the deepest hook a caller asked for (layer 6's resid_pre needs blocks 0–5 only).
 *
 * Which hooks exist depends on the layout: hook_pos_embed only with learned positions (GPT-2), and
 * blocks.L.hook_resid_mid only with a sequential residual (not GPT-NeoX's parallel attention + MLP, as in
 * TransformerLens). A GPT2Config (no layout fields) is GPT-2's layout.
 */
export const BLOCK_HOOKS = ["hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"] as const;

/** What the hook names depend on: the layer count, and (absent for GPT-2's config) the layout. */
export interface HookLayout {
  nLayer: number;
  positions?: "learned" | "rotary";
  parallelResidual?: boolean;
  family?: string;
}

function blockHooks(layout: HookLayout): string[] {
  return BLOCK_HOOKS.filter((h) => h !== "hook_resid_mid" || !layout.parallelResidual);
}

function embedHooks(layout: HookLayout): string[] {
  return layout.positions === "rotary" ? ["hook_embed"] : ["hook_embed", "hook_pos_embed"];
}

/** Every TransformerLens hook name of a model of this layout, in forward order. */
export function allHookNames(layout: HookLayout): string[] {
  const names = embedHooks(layout);
  for (let l = 0; l < layout.nLayer; l++) for (const h of blockHooks(layout)) names.push(`blocks.${l}.${h}`);
  names.push("ln_final.hook_normalized");
  return names;
}

/**
 * Number of transformer blocks that must run to produce a hook. resid_pre of block L is the output of block
 * L−1, so it needs L blocks; the other block hooks need L+1; the final layer norm needs all of them.
 */
export function blocksNeededFor(hook: string, layout: HookLayout): number {
  if (embedHooks(layout).includes(hook)) return 0;
  if (hook === "ln_final.hook_normalized") return layout.nLayer;
  const m = /^blocks\.(\d+)\.(\w+)$/.exec(hook);
  if (m) {
    const layer = Number(m[1]);
    const name = m[2]!;
    if (layer < layout.nLayer && blockHooks(layout).includes(name)) {
      return name === "hook_resid_pre" ? layer : layer + 1;
    }
  }
  const model = `${layout.nLayer}-layer ${layout.family ?? "gpt2"}${layout.parallelResidual ? " (parallel residual: no hook_resid_mid)" : ""}`;
  throw new Error(`unknown hook "${hook}" for a ${model}; valid hooks: ${embedHooks(layout).join(", ")}, blocks.{0..${layout.nLayer - 1}}.{${blockHooks(layout).join(",")}}, ln_final.hook_normalized`);
}

/** Hooks whose activations live in the residual stream (and so are centred in the TransformerLens convention). */
export function writesResidualStream(hook: string): boolean {
  return hook !== "ln_final.hook_normalized";
}
