"""GPT-2 forward pass in plain PyTorch, from the Hugging Face layout, producing reference numerics.

Run with Debian's PyTorch:  /usr/bin/python3 tools/reference/gpt2_reference.py            (tiny fixture)
                            /usr/bin/python3 tools/reference/gpt2_reference.py full --checkpoint DIR \
                                --prompts prompts.json --out out.json                     (full-size check)

Layout (keys as in openai-community/gpt2's model.safetensors): wte [V,d], wpe [P,d], h.{i}.ln_1.{weight,bias},
h.{i}.attn.c_attn.{weight [d,3d], bias}, h.{i}.attn.c_proj.{weight [d,d], bias}, h.{i}.ln_2.*,
h.{i}.mlp.c_fc.{weight [d,4d], bias}, h.{i}.mlp.c_proj.{weight [4d,d], bias}, ln_f.*; Conv1D layers compute
y = x @ W + b; lm_head is tied to wte. GELU is the tanh approximation. Attention is causal and, with an
attention mask, also excludes keys whose mask is 0 (right padding).

Hooks use TransformerLens names. "Centred" residual = the HF value minus its mean over d_model, which is what
TransformerLens's default from_pretrained (fold_ln + center_writing_weights) records; `verify_centering` checks
that claim by actually folding and centring the weights and comparing.

The tiny fixture is computed in float64 and stored as float32 so the reference is as exact as possible.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def forward(p, cfg, tokens, mask=None, dtype=torch.float64, stop_after_blocks=None):
    """Returns (hooks dict, logits). p: dict of numpy arrays; tokens: [B, T] int array."""
    W = {k: torch.tensor(np.asarray(v, dtype=np.float32), dtype=dtype) for k, v in p.items() if not k.endswith("attn.bias") or v.ndim == 1}
    d, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = d // nh
    toks = torch.tensor(np.asarray(tokens, dtype=np.int64))
    B, T = toks.shape
    hooks = {}
    embed = W["wte.weight"][toks]
    pos = W["wpe.weight"][torch.arange(T)].unsqueeze(0).expand(B, T, d)
    hooks["hook_embed"], hooks["hook_pos_embed"] = embed, pos
    x = embed + pos
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool)).unsqueeze(0).unsqueeze(0)  # [1,1,T,T]
    if mask is not None:
        allowed = allowed & torch.tensor(np.asarray(mask) != 0).view(B, 1, 1, T)
    n_blocks = cfg["n_layer"] if stop_after_blocks is None else stop_after_blocks
    for i in range(n_blocks):
        pre = f"h.{i}."
        hooks[f"blocks.{i}.hook_resid_pre"] = x
        h = layer_norm(x, W[pre + "ln_1.weight"], W[pre + "ln_1.bias"], eps)
        qkv = h @ W[pre + "attn.c_attn.weight"] + W[pre + "attn.c_attn.bias"]
        q, k, v = qkv.split(d, dim=-1)
        q, k, v = (t.view(B, T, nh, hd).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = att.masked_fill(~allowed, float("-inf"))
        att = torch.softmax(att, dim=-1)
        att = torch.nan_to_num(att, nan=0.0)  # a query with no visible key (left padding only) outputs zeros
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        attn_out = y @ W[pre + "attn.c_proj.weight"] + W[pre + "attn.c_proj.bias"]
        hooks[f"blocks.{i}.hook_attn_out"] = attn_out
        x = x + attn_out
        hooks[f"blocks.{i}.hook_resid_mid"] = x
        h = layer_norm(x, W[pre + "ln_2.weight"], W[pre + "ln_2.bias"], eps)
        m = gelu_tanh(h @ W[pre + "mlp.c_fc.weight"] + W[pre + "mlp.c_fc.bias"])
        mlp_out = m @ W[pre + "mlp.c_proj.weight"] + W[pre + "mlp.c_proj.bias"]
        hooks[f"blocks.{i}.hook_mlp_out"] = mlp_out
        x = x + mlp_out
        hooks[f"blocks.{i}.hook_resid_post"] = x
    if stop_after_blocks is not None:
        return hooks, None
    xf = layer_norm(x, W["ln_f.weight"], W["ln_f.bias"], eps)
    hooks["ln_final.hook_normalized"] = xf
    logits = xf @ W["wte.weight"].T
    return hooks, logits


def verify_centering(p, cfg, tokens, mask):
    """Fold layer norms and centre the writing weights as TransformerLens does; compare its resid_pre with
    the HF resid_pre minus its mean. Returns the max abs difference over layers."""
    d = cfg["n_embd"]
    q = {k: np.asarray(v, dtype=np.float64).copy() for k, v in p.items()}
    # Centre every weight that writes to the residual stream along d_model (the output axis).
    q["wte.weight"] -= q["wte.weight"].mean(-1, keepdims=True)
    q["wpe.weight"] -= q["wpe.weight"].mean(-1, keepdims=True)
    for i in range(cfg["n_layer"]):
        for name in ("attn.c_proj", "mlp.c_proj"):
            q[f"h.{i}.{name}.weight"] -= q[f"h.{i}.{name}.weight"].mean(-1, keepdims=True)
            q[f"h.{i}.{name}.bias"] -= q[f"h.{i}.{name}.bias"].mean()
    # Folding LN weights into the following linear layers does not change any residual value, only where the
    # affine multiply happens; the centring above is what changes resid_*. The unembedding uses the original wte.
    hooks_c, _ = forward({**q, "wte.weight": q["wte.weight"]}, cfg, tokens, mask)
    hooks_raw, _ = forward(p, cfg, tokens, mask)
    worst = 0.0
    for i in range(cfg["n_layer"]):
        raw = hooks_raw[f"blocks.{i}.hook_resid_pre"]
        centred = raw - raw.mean(-1, keepdim=True)
        worst = max(worst, float((hooks_c[f"blocks.{i}.hook_resid_pre"] - centred).abs().max()))
    return worst


def tiny(out_dir):
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "activation_function": "gelu_new",
           "n_layer": 2, "n_head": 4, "n_embd": 64, "n_positions": 32, "n_ctx": 32, "vocab_size": 512,
           "layer_norm_epsilon": 1e-5, "bos_token_id": 511, "eos_token_id": 511}
    rng = np.random.default_rng(20261125)
    d, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    p = {"wte.weight": rng.normal(0, 0.02 * 5, (V, d)), "wpe.weight": rng.normal(0, 0.01 * 5, (P, d)),
         "ln_f.weight": 1 + rng.normal(0, 0.1, d), "ln_f.bias": rng.normal(0, 0.02, d)}
    for i in range(L):
        s = f"h.{i}."
        p[s + "ln_1.weight"] = 1 + rng.normal(0, 0.1, d)
        p[s + "ln_1.bias"] = rng.normal(0, 0.02, d)
        p[s + "attn.c_attn.weight"] = rng.normal(0, 0.1, (d, 3 * d))
        p[s + "attn.c_attn.bias"] = rng.normal(0, 0.02, 3 * d)
        p[s + "attn.c_proj.weight"] = rng.normal(0, 0.1, (d, d))
        p[s + "attn.c_proj.bias"] = rng.normal(0, 0.02, d)
        p[s + "ln_2.weight"] = 1 + rng.normal(0, 0.1, d)
        p[s + "ln_2.bias"] = rng.normal(0, 0.02, d)
        p[s + "mlp.c_fc.weight"] = rng.normal(0, 0.1, (d, 4 * d))
        p[s + "mlp.c_fc.bias"] = rng.normal(0, 0.02, 4 * d)
        p[s + "mlp.c_proj.weight"] = rng.normal(0, 0.1, (4 * d, d))
        p[s + "mlp.c_proj.bias"] = rng.normal(0, 0.02, d)
    p = {k: v.astype(np.float32) for k, v in p.items()}
    buffers = {f"h.{i}.attn.bias": np.tril(np.ones((P, P), np.float32)).reshape(1, 1, P, P) for i in range(L)}
    os.makedirs(out_dir, exist_ok=True)
    safetensors_io.write(os.path.join(out_dir, "model.safetensors"), {**p, **buffers}, {"format": "pt"})
    safetensors_io.write(os.path.join(out_dir, "model_f16.safetensors"), {k: v.astype(np.float16) for k, v in p.items()})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    tokens = rng.integers(0, V - 1, (2, 8)).astype(np.int32)
    mask = np.ones((2, 8), np.int32)
    mask[1, 5:] = 0
    tokens[1, 5:] = V - 1  # pad id
    safetensors_io.write(os.path.join(out_dir, "inputs.safetensors"), {"tokens": tokens, "attention_mask": mask})

    def outputs(params):
        hooks, logits = forward(params, cfg, tokens, mask)
        out = {k: v.numpy().astype(np.float32) for k, v in hooks.items()}
        for i in range(L):
            r = hooks[f"blocks.{i}.hook_resid_pre"]
            out[f"blocks.{i}.hook_resid_pre_centered"] = (r - r.mean(-1, keepdim=True)).numpy().astype(np.float32)
        out["logits"] = logits.numpy().astype(np.float32)
        return out

    safetensors_io.write(os.path.join(out_dir, "outputs.safetensors"), outputs(p))
    p16 = {k: v.astype(np.float16).astype(np.float32) for k, v in p.items()}
    safetensors_io.write(os.path.join(out_dir, "outputs_f16.safetensors"), outputs(p16))
    worst = verify_centering(p, cfg, tokens, mask)
    print(f"wrote {out_dir}; centred-residual equivalence: max |TL-style resid_pre - (HF - mean)| = {worst:.3e}")


def full(checkpoint, prompts_path, out_path):
    with open(os.path.join(checkpoint, "config.json")) as f:
        cfg = json.load(f)
    params, _ = safetensors_io.read(os.path.join(checkpoint, "model.safetensors"))
    params = {k: v for k, v in params.items() if not (k.endswith(".attn.bias") or k.endswith(".attn.masked_bias"))}
    with open(prompts_path) as f:
        prompts = json.load(f)["prompts"]
    result = {"prompts": prompts, "last_logits": [], "resid_pre_6": [], "last_logits_f32": []}
    for ids in prompts:
        toks = np.asarray([ids], dtype=np.int64)
        hooks, logits = forward(params, cfg, toks, dtype=torch.float64)
        result["last_logits"].append(logits[0, -1].tolist())
        result["resid_pre_6"].append(hooks["blocks.6.hook_resid_pre"][0].tolist())
        _, logits32 = forward(params, cfg, toks, dtype=torch.float32)
        result["last_logits_f32"].append(logits32[0, -1].tolist())
    with open(out_path, "w") as f:
        json.dump(result, f)
    print(f"wrote {out_path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "test", "fixtures", "gpt2_tiny"))
    ap.add_argument("--checkpoint")
    ap.add_argument("--prompts")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.mode == "tiny":
        tiny(a.out_dir)
    else:
        if not (a.checkpoint and a.prompts and a.out):
            ap.error("full mode needs --checkpoint, --prompts and --out")
        full(a.checkpoint, a.prompts, a.out)


if __name__ == "__main__":
    main()
