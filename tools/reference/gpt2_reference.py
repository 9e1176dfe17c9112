"""GPT-2 forward pass in plain PyTorch, from the Hugging Face checkpoint layout: reference numerics for the
TypeScript forward (src/gpt2/model.ts, test/gpt2_reference.test.ts).

Run (Debian's PyTorch; the pyenv `python3` on PATH has no torch):
  /usr/bin/python3 tools/reference/gpt2_reference.py
      tiny mode (default): writes test/fixtures/gpt2_tiny/ (see "Tiny fixture" below); deterministic.
  /usr/bin/python3 tools/reference/gpt2_reference.py full --checkpoint DIR --prompts FILE --out FILE [--layer 6]
      full mode: runs an HF-layout checkpoint (DIR/config.json + DIR/model.safetensors, F32 or F16) on the
      token-id prompts of FILE ({"prompts": [[ids...], ...]}), each prompt alone (no padding), in float64 and
      float32, and writes JSON:
        {"prompts": [...], "last_logits": [[V floats] per prompt], "resid_pre_6": [[[d floats] per position]
         per prompt], "last_logits_f32": ..., "resid_pre_6_f32": ..., "max_abs_diff_f32_vs_f64": {...},
         "checkpoint_dtype": "F32"|"F16"}
      The unsuffixed keys are the float64 results (weights upcast exactly from the file's dtype); `_f32` keys
      are the same forward in float32. The file is memory-mapped; float32 weights from an F32 file are used
      in place (no copy), float64 weights are converted once, and the two precisions never coexist.

Layout (keys as in openai-community/gpt2's model.safetensors, no "transformer." prefix):
  wte.weight [V,d], wpe.weight [P,d], ln_f.{weight,bias} [d], and for each block i
  h.i.ln_1.{weight,bias} [d], h.i.attn.c_attn.weight [d,3d] + .bias [3d] (q | k | v along the last axis),
  h.i.attn.c_proj.weight [d,d] + .bias [d], h.i.ln_2.{weight,bias}, h.i.mlp.c_fc.weight [d,4d] + .bias [4d],
  h.i.mlp.c_proj.weight [4d,d] + .bias [d], and the causal-mask buffer h.i.attn.bias [1,1,P,P] (ignored).
  Conv1D layers compute y = x @ W + b. The LM head is tied: logits = ln_f(x) @ wte.weightᵀ (no bias).

Conventions:
  LayerNorm: (x − mean) / sqrt(biased variance + eps) · w + b, eps = config layer_norm_epsilon (1e-5).
  GELU ("gelu_new"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
  Attention: heads split d into n_head slices of d_head = d/n_head; scores q·k/√d_head; query i attends to key
  j iff j ≤ i and attention_mask[j] = 1 (right padding); softmax over the allowed keys. Padded query
  positions are computed too (they see the real keys before them) and are part of the reference.
  Hooks (TransformerLens names): hook_embed = wte[tokens], hook_pos_embed = wpe[0..T) broadcast to [B,T,d],
  blocks.L.hook_resid_pre (block input), blocks.L.hook_attn_out (after c_proj incl. bias),
  blocks.L.hook_resid_mid, blocks.L.hook_mlp_out (after mlp c_proj incl. bias), blocks.L.hook_resid_post,
  ln_final.hook_normalized (ln_f output, affine included), logits.
  "Centred" residual: blocks.L.hook_resid_pre_centered = resid_pre − mean over d_model. This is what
  TransformerLens's default from_pretrained (fold_ln, center_writing_weights, center_unembed) records;
  `verify_centering` proves it numerically by folding the layer norms and centring the weights for real
  and running a second forward pass (result printed, and recorded in the README).

Tiny fixture (test/fixtures/gpt2_tiny/): a random GPT-2 with n_layer 2, n_head 4, n_embd 64, vocab 512,
n_positions 32, eps 1e-5. Weights N(0, 0.02²), biases N(0, 0.02²), LayerNorm gains 1 + N(0, 0.1²)
(numpy default_rng(20261125)), stored as float32. Outputs are computed in float64 from the float32 weights
and cast to float32. outputs_f16.safetensors: the same forward from the F16-rounded weights (upcast exactly).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SEED = 20261125


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdim=True)
    return xc / torch.sqrt(var + eps) * w + b


def is_buffer(name):
    return name.endswith(".attn.bias") or name.endswith(".attn.masked_bias")


def to_torch(params, dtype):
    """numpy (possibly memory-mapped, F16/F32/F64) -> torch tensors of `dtype`; buffers dropped.
    A float32 array that is already float32 is wrapped without copying."""
    out = {}
    for k, v in params.items():
        if is_buffer(k):
            continue
        t = torch.from_numpy(v) if v.dtype == np.float32 and dtype == torch.float32 else torch.from_numpy(np.asarray(v, dtype=np.float64 if dtype == torch.float64 else np.float32))
        out[k] = t.to(dtype)
    return out


def forward(W, cfg, tokens, mask=None, n_blocks=None, want_logits=True):
    """W: {name: torch tensor} in the compute dtype (HF layout; optional untied "unembed.weight" [d,V] and
    "unembed.bias" [V] replace the tied head). tokens: int [B,T]; mask: 0/1 [B,T] or None.
    Returns (hooks {name: tensor}, logits or None). n_blocks: run only blocks 0..n_blocks-1 (no final LN)."""
    d, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = d // nh
    toks = torch.as_tensor(np.asarray(tokens, dtype=np.int64))
    B, T = toks.shape
    hooks = {}
    embed = W["wte.weight"][toks]
    pos = W["wpe.weight"][:T].unsqueeze(0).expand(B, T, d)
    hooks["hook_embed"], hooks["hook_pos_embed"] = embed, pos
    x = embed + pos
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)
    if mask is not None:
        allowed = allowed & torch.as_tensor(np.asarray(mask) != 0).view(B, 1, 1, T)
    L = cfg["n_layer"] if n_blocks is None else n_blocks
    for i in range(L):
        p = f"h.{i}."
        hooks[f"blocks.{i}.hook_resid_pre"] = x
        h = layer_norm(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]
        q, k, v = (t.reshape(B, T, nh, hd).transpose(1, 2) for t in qkv.split(d, dim=-1))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        scores = scores.masked_fill(~allowed, float("-inf"))
        att = torch.softmax(scores, dim=-1)
        att = torch.nan_to_num(att, nan=0.0)  # only reachable with left padding: a query with no visible key
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        attn_out = y @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        hooks[f"blocks.{i}.hook_attn_out"] = attn_out
        x = x + attn_out
        hooks[f"blocks.{i}.hook_resid_mid"] = x
        h = layer_norm(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        m = gelu_tanh(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        mlp_out = m @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
        hooks[f"blocks.{i}.hook_mlp_out"] = mlp_out
        x = x + mlp_out
        hooks[f"blocks.{i}.hook_resid_post"] = x
    if n_blocks is not None or not want_logits:
        return hooks, None
    xf = layer_norm(x, W["ln_f.weight"], W["ln_f.bias"], eps)
    hooks["ln_final.hook_normalized"] = xf
    if "unembed.weight" in W:
        logits = xf @ W["unembed.weight"] + W["unembed.bias"]
    else:
        logits = xf @ W["wte.weight"].T
    return hooks, logits


def fold_and_center(W, cfg):
    """TransformerLens-style processing of float64 HF weights: fold every LayerNorm's gain and bias into the
    layer that reads it (ln_1 -> c_attn, ln_2 -> c_fc, ln_f -> unembedding), centre those reading weights over
    their d_model input axis, replace the LNs by plain normalisation (gain 1, bias 0), centre every weight
    that writes to the residual stream over its d_model output axis (wte, wpe, attn.c_proj, mlp.c_proj and
    their biases), untie and centre the unembedding over the vocabulary."""
    d = cfg["n_embd"]
    Q = {k: v.clone() for k, v in W.items()}
    ones, zeros = torch.ones(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)

    def fold(ln, w_key, b_key):
        g, beta = Q[ln + ".weight"], Q[ln + ".bias"]
        Wr = Q[w_key]
        b_new = Q[b_key] + beta @ Wr if b_key in Q else beta @ Wr
        W_new = g[:, None] * Wr
        W_new = W_new - W_new.mean(0, keepdim=True)
        Q[ln + ".weight"], Q[ln + ".bias"] = ones.clone(), zeros.clone()
        return W_new, b_new

    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        Q[p + "attn.c_attn.weight"], Q[p + "attn.c_attn.bias"] = fold(p + "ln_1", p + "attn.c_attn.weight", p + "attn.c_attn.bias")
        Q[p + "mlp.c_fc.weight"], Q[p + "mlp.c_fc.bias"] = fold(p + "ln_2", p + "mlp.c_fc.weight", p + "mlp.c_fc.bias")
    Q["unembed.weight"] = W["wte.weight"].T.clone()  # untie before centring the embedding
    Q["unembed.weight"], Q["unembed.bias"] = fold("ln_f", "unembed.weight", "unembed.bias")
    Q["unembed.weight"] = Q["unembed.weight"] - Q["unembed.weight"].mean(-1, keepdim=True)
    Q["unembed.bias"] = Q["unembed.bias"] - Q["unembed.bias"].mean()
    for key in ["wte.weight", "wpe.weight"] + [f"h.{i}.{n}" for i in range(cfg["n_layer"]) for n in ("attn.c_proj.weight", "mlp.c_proj.weight")]:
        Q[key] = Q[key] - Q[key].mean(-1, keepdim=True)
    for key in [f"h.{i}.{n}" for i in range(cfg["n_layer"]) for n in ("attn.c_proj.bias", "mlp.c_proj.bias")]:
        Q[key] = Q[key] - Q[key].mean()
    return Q


def verify_centering(W64, cfg, tokens, mask):
    """Max |TL-processed hook − (HF hook − its mean over the last axis)| per hook family, float64."""
    hf, hf_logits = forward(W64, cfg, tokens, mask)
    tl, tl_logits = forward(fold_and_center(W64, cfg), cfg, tokens, mask)
    centred = lambda t: t - t.mean(-1, keepdim=True)  # noqa: E731
    report = {}
    for name in hf:
        if name == "ln_final.hook_normalized":
            continue  # TL's folded ln_final has no affine; not comparable
        family = name.split(".")[-1]
        report[family] = max(report.get(family, 0.0), float((tl[name] - centred(hf[name])).abs().max()))
    report["logits (minus mean over vocab)"] = float((tl_logits - centred(hf_logits)).abs().max())
    # Negative control: without subtracting the mean the two disagree by the size of the mean.
    report["control: max |TL resid_pre - HF resid_pre| (uncentred)"] = max(
        float((tl[f"blocks.{i}.hook_resid_pre"] - hf[f"blocks.{i}.hook_resid_pre"]).abs().max()) for i in range(cfg["n_layer"]))
    report["scale: max |HF resid_pre|"] = max(float(hf[f"blocks.{i}.hook_resid_pre"].abs().max()) for i in range(cfg["n_layer"]))
    return report


def independent_check(W64, cfg, tokens, mask, hooks, logits):
    """Recompute the forward a second way (torch.nn.functional layer_norm / gelu(approximate="tanh"), one head
    and one query at a time with an explicit list of visible keys) and return the max abs difference."""
    d, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = d // nh
    toks = np.asarray(tokens)
    B, T = toks.shape
    worst = 0.0
    for b in range(B):
        x = W64["wte.weight"][torch.as_tensor(toks[b], dtype=torch.long)] + W64["wpe.weight"][:T]
        for i in range(cfg["n_layer"]):
            p = f"h.{i}."
            worst = max(worst, float((x - hooks[f"blocks.{i}.hook_resid_pre"][b]).abs().max()))
            h = torch.nn.functional.layer_norm(x, (d,), W64[p + "ln_1.weight"], W64[p + "ln_1.bias"], eps)
            qkv = torch.addmm(W64[p + "attn.c_attn.bias"], h, W64[p + "attn.c_attn.weight"])
            heads = []
            for hh in range(nh):
                q = qkv[:, hh * hd:(hh + 1) * hd]
                k = qkv[:, d + hh * hd:d + (hh + 1) * hd]
                v = qkv[:, 2 * d + hh * hd:2 * d + (hh + 1) * hd]
                rows = []
                for t in range(T):
                    keys = [j for j in range(t + 1) if mask is None or mask[b][j] != 0]
                    s = torch.stack([q[t].dot(k[j]) for j in keys]) / math.sqrt(hd)
                    a = torch.exp(s - s.max())
                    a = a / a.sum()
                    rows.append(sum(a[n] * v[j] for n, j in enumerate(keys)))
                heads.append(torch.stack(rows))
            x = x + torch.addmm(W64[p + "attn.c_proj.bias"], torch.cat(heads, 1), W64[p + "attn.c_proj.weight"])
            h = torch.nn.functional.layer_norm(x, (d,), W64[p + "ln_2.weight"], W64[p + "ln_2.bias"], eps)
            m = torch.nn.functional.gelu(torch.addmm(W64[p + "mlp.c_fc.bias"], h, W64[p + "mlp.c_fc.weight"]), approximate="tanh")
            x = x + torch.addmm(W64[p + "mlp.c_proj.bias"], m, W64[p + "mlp.c_proj.weight"])
        xf = torch.nn.functional.layer_norm(x, (d,), W64["ln_f.weight"], W64["ln_f.bias"], eps)
        worst = max(worst, float((xf @ W64["wte.weight"].T - logits[b]).abs().max()))
    return worst


def tiny(out_dir):
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "activation_function": "gelu_new",
           "n_layer": 2, "n_head": 4, "n_embd": 64, "n_positions": 32, "n_ctx": 32, "vocab_size": 512,
           "layer_norm_epsilon": 1e-5, "bos_token_id": 511, "eos_token_id": 511}
    rng = np.random.default_rng(SEED)
    d, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    nrm = lambda *shape: rng.normal(0.0, 0.02, shape)  # noqa: E731
    gain = lambda: 1.0 + rng.normal(0.0, 0.1, d)  # noqa: E731
    p = {"wte.weight": nrm(V, d), "wpe.weight": nrm(P, d)}
    for i in range(L):
        s = f"h.{i}."
        p[s + "ln_1.weight"], p[s + "ln_1.bias"] = gain(), nrm(d)
        p[s + "attn.c_attn.weight"], p[s + "attn.c_attn.bias"] = nrm(d, 3 * d), nrm(3 * d)
        p[s + "attn.c_proj.weight"], p[s + "attn.c_proj.bias"] = nrm(d, d), nrm(d)
        p[s + "ln_2.weight"], p[s + "ln_2.bias"] = gain(), nrm(d)
        p[s + "mlp.c_fc.weight"], p[s + "mlp.c_fc.bias"] = nrm(d, 4 * d), nrm(4 * d)
        p[s + "mlp.c_proj.weight"], p[s + "mlp.c_proj.bias"] = nrm(4 * d, d), nrm(d)
    p["ln_f.weight"], p["ln_f.bias"] = gain(), nrm(d)
    p = {k: v.astype(np.float32) for k, v in p.items()}
    mask_buf = np.tril(np.ones((P, P), np.float32)).reshape(1, 1, P, P)
    buffers = {f"h.{i}.attn.bias": mask_buf for i in range(L)}

    tokens = rng.integers(0, V - 1, (2, 8)).astype(np.int32)  # real tokens avoid the pad id V-1
    mask = np.ones((2, 8), np.int32)
    mask[1, 5:] = 0
    tokens[1, 5:] = V - 1

    os.makedirs(out_dir, exist_ok=True)
    safetensors_io.write(os.path.join(out_dir, "model.safetensors"), {**p, **buffers}, {"format": "pt"})
    p16 = {k: v.astype(np.float16) for k, v in p.items()}
    safetensors_io.write(os.path.join(out_dir, "model_f16.safetensors"),
                         {**p16, **{k: v.astype(np.float16) for k, v in buffers.items()}}, {"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    safetensors_io.write(os.path.join(out_dir, "inputs.safetensors"), {"tokens": tokens, "attention_mask": mask})

    def outputs(params, names=None):
        hooks, logits = forward(to_torch(params, torch.float64), cfg, tokens, mask)
        for i in range(L):
            r = hooks[f"blocks.{i}.hook_resid_pre"]
            hooks[f"blocks.{i}.hook_resid_pre_centered"] = r - r.mean(-1, keepdim=True)
        hooks["logits"] = logits
        return {k: v.numpy().astype(np.float32) for k, v in hooks.items() if names is None or k in names}

    safetensors_io.write(os.path.join(out_dir, "outputs.safetensors"), outputs(p))
    f16_names = {f"blocks.{i}.hook_resid_post" for i in range(L)} | {"ln_final.hook_normalized", "logits"}
    safetensors_io.write(os.path.join(out_dir, "outputs_f16.safetensors"),
                         outputs({k: v.astype(np.float32) for k, v in p16.items()}, f16_names))

    W64 = to_torch(p, torch.float64)
    hooks, logits = forward(W64, cfg, tokens, mask)
    print(f"wrote {out_dir}")
    print(f"independent re-implementation (F.layer_norm, F.gelu tanh, per-head per-query attention), float64: "
          f"max abs diff {independent_check(W64, cfg, tokens, mask, hooks, logits):.3e}")
    report = verify_centering(W64, cfg, tokens, mask)
    print("centring check, float64: max |TransformerLens-processed hook - (HF hook - mean over last axis)|:")
    for k, v in report.items():
        print(f"  {k}: {v:.3e}")
    for name in sorted(os.listdir(out_dir)):
        print(f"  {name}: {os.path.getsize(os.path.join(out_dir, name))} bytes")


def full(checkpoint, prompts_path, out_path, layer):
    with open(os.path.join(checkpoint, "config.json")) as f:
        cfg = json.load(f)
    params, _ = safetensors_io.read(os.path.join(checkpoint, "model.safetensors"), copy_on_write=True)
    dtypes = sorted({str(v.dtype) for k, v in params.items() if not is_buffer(k)})
    ckpt_dtype = {"float32": "F32", "float16": "F16"}.get(dtypes[0], dtypes[0]) if len(dtypes) == 1 else "/".join(dtypes)
    if not 0 <= layer < cfg["n_layer"]:
        raise SystemExit(f"--layer {layer} outside 0..{cfg['n_layer'] - 1}")
    with open(prompts_path) as f:
        prompts = json.load(f)["prompts"]
    hook = f"blocks.{layer}.hook_resid_pre"
    key = f"resid_pre_{layer}"
    result = {"prompts": prompts, "checkpoint_dtype": ckpt_dtype}
    for dtype, suffix in ((torch.float64, ""), (torch.float32, "_f32")):
        W = to_torch(params, dtype)
        last, resid = [], []
        with torch.no_grad():
            for ids in prompts:
                hooks, logits = forward(W, cfg, np.asarray([ids], dtype=np.int64))
                last.append(logits[0, -1].tolist())
                resid.append(hooks[hook][0].tolist())
        result["last_logits" + suffix], result[key + suffix] = last, resid
        del W
    diff = lambda a, b: float(max((np.abs(np.asarray(x) - np.asarray(y)).max() for x, y in zip(a, b)), default=0.0))  # noqa: E731
    result["max_abs_diff_f32_vs_f64"] = {"last_logits": diff(result["last_logits"], result["last_logits_f32"]),
                                         key: diff(result[key], result[key + "_f32"])}
    with open(out_path, "w") as f:
        json.dump(result, f)
    print(f"wrote {out_path} ({len(prompts)} prompts, checkpoint {ckpt_dtype}); float32 vs float64: {result['max_abs_diff_f32_vs_f64']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "test", "fixtures", "gpt2_tiny"), help="tiny mode output directory")
    ap.add_argument("--checkpoint", help="full mode: directory with config.json and model.safetensors")
    ap.add_argument("--prompts", help='full mode: JSON file {"prompts": [[token ids], ...]}')
    ap.add_argument("--out", help="full mode: output JSON file")
    ap.add_argument("--layer", type=int, default=6, help="full mode: which blocks.L.hook_resid_pre to record (default 6)")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    if a.mode == "tiny":
        tiny(a.out_dir)
    else:
        if not (a.checkpoint and a.prompts and a.out):
            ap.error("full mode needs --checkpoint, --prompts and --out")
        full(a.checkpoint, a.prompts, a.out, a.layer)


if __name__ == "__main__":
    main()
