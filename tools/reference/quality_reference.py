"""SAE quality metrics in PyTorch float64, on the tiny GPT-2 fixture: reference numbers for src/sae/quality.ts
(test/sae_quality.test.ts).

Run (Debian's PyTorch): /usr/bin/python3 tools/reference/quality_reference.py
Writes test/fixtures/quality/ (numpy default_rng(20261202)):
  model/config.json, model/model.safetensors  a tiny GPT-2 (2 layers, 2 heads, d 32, vocab 256, 16 positions) with
                                              weights large enough that its predictions are far from uniform, so
                                              zero-ablating a layer's residual costs it several nats (a case whose
                                              scores are not ratios of near-zero differences)
  sae/cfg.json, sae/sae_weights.safetensors   a TopK SAE (SAELens 6 layout, architecture "topk") on its centred
                                              blocks.1.hook_resid_pre: d_in 32, d_sae 48, k 3; decoder rows are
                                              perturbed residual vectors of other windows (so it reconstructs part of
                                              the signal), encoder = decoderᵀ, b_dec = their mean
  expected.json                               the held-out windows (tokens, mask, kind) and every metric

Definitions, as SAELens computes them (sae_lens/evals.py) on real tokens (kind 0; BOS 1 and padding 2 excluded):
  explained variance  1 − E_t‖x − x̂‖² / (E_t‖x‖² − (E_{t,d} x²)²)    (SAELens's formula as written)
  FVU                 Σ‖x − x̂‖² / Σ‖x − x̄‖²
  L0, dead, dense     firing latents per token; latents that never fire; latents firing on > 1% / > 10% of tokens
  CE                  mean −log p(next token) over positions p with kind[p] = kind[p+1] = real, for the clean model,
                      with the SAE's reconstruction replacing the residual at the real positions (BOS keeps its own),
                      and with the residual zeroed at every position; CE-loss score = (CE_zero − CE_sae)/(CE_zero − CE_clean)
  KL                  mean KL(clean ‖ spliced) of the next-token distributions over the same positions; KL score =
                      (KL_zero − KL_sae)/KL_zero
The residual is spliced in its centred form: blocks read it through layer norms, which remove its mean.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from gpt2_reference import forward, gelu_tanh, layer_norm, to_torch  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "quality")
SEED = 20261202
LAYER, D_SAE, K = 1, 48, 3
HOOK = f"blocks.{LAYER}.hook_resid_pre"


def blocks_from(W, cfg, x, mask, start):
    """The blocks start.. and the tied head, from the residual x [B,T,d] (what the TS startAt does)."""
    d, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = d // nh
    B, T, _ = x.shape
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T) & torch.as_tensor(mask != 0).view(B, 1, 1, T)
    for i in range(start, cfg["n_layer"]):
        p = f"h.{i}."
        h = layer_norm(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]
        q, k, v = (t.reshape(B, T, nh, hd).transpose(1, 2) for t in qkv.split(d, dim=-1))
        scores = ((q @ k.transpose(-1, -2)) / math.sqrt(hd)).masked_fill(~allowed, float("-inf"))
        att = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        x = x + (att @ v).transpose(1, 2).reshape(B, T, d) @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        h = layer_norm(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        x = x + gelu_tanh(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"]) @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
    return layer_norm(x, W["ln_f.weight"], W["ln_f.bias"], eps) @ W["wte.weight"].T


def tiny_model(rng):
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "activation_function": "gelu_new", "n_layer": 2,
           "n_head": 2, "n_embd": 32, "n_positions": 16, "n_ctx": 16, "vocab_size": 256, "layer_norm_epsilon": 1e-5,
           "bos_token_id": 255, "eos_token_id": 255}
    d, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    g = lambda *shape, s=0.1: (s * rng.normal(size=shape)).astype(np.float32)  # noqa: E731
    params = {"wte.weight": g(V, d, s=0.5), "wpe.weight": g(P, d, s=0.3), "ln_f.weight": 1 + g(d), "ln_f.bias": g(d)}
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        params.update({p + "ln_1.weight": 1 + g(d), p + "ln_1.bias": g(d), p + "attn.c_attn.weight": g(d, 3 * d, s=0.3),
                       p + "attn.c_attn.bias": g(3 * d), p + "attn.c_proj.weight": g(d, d, s=0.3), p + "attn.c_proj.bias": g(d),
                       p + "ln_2.weight": 1 + g(d), p + "ln_2.bias": g(d), p + "mlp.c_fc.weight": g(d, 4 * d, s=0.3),
                       p + "mlp.c_fc.bias": g(4 * d), p + "mlp.c_proj.weight": g(4 * d, d, s=0.2), p + "mlp.c_proj.bias": g(d)})
    os.makedirs(os.path.join(OUT, "model"), exist_ok=True)
    safetensors_io.write(os.path.join(OUT, "model", "model.safetensors"), params)
    with open(os.path.join(OUT, "model", "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return cfg, to_torch(params, torch.float64)


def main():
    rng = np.random.default_rng(SEED)
    cfg, W = tiny_model(rng)
    d, V, bos = cfg["n_embd"], cfg["vocab_size"], cfg["bos_token_id"]

    # Held-out windows: BOS, then real tokens; windows 2 and 5 end in right padding.
    n_windows, seq = 6, 16
    tokens = rng.integers(0, V - 1, size=(n_windows, seq))
    kind = np.zeros((n_windows, seq), dtype=np.uint8)
    tokens[:, 0], kind[:, 0] = bos, 1
    for w, real_end in ((2, 10), (5, 7)):
        tokens[w, real_end:], kind[w, real_end:] = 0, 2
    mask = (kind != 2).astype(np.uint8)

    # A TopK SAE in the centred convention, its dictionary made of other windows' residual vectors.
    other = rng.integers(0, V - 1, size=(8, seq))
    other[:, 0] = bos
    h, _ = forward(W, cfg, other, np.ones_like(other), n_blocks=LAYER + 1)
    r = (h[HOOK] - h[HOOK].mean(-1, keepdim=True))[:, 1:].reshape(-1, d).numpy()
    b_dec = r.mean(0)
    rows = r[rng.choice(r.shape[0], D_SAE, replace=False)] - b_dec
    w_dec = rows + 0.2 * np.linalg.norm(rows, axis=1, keepdims=True) * rng.normal(size=rows.shape) / math.sqrt(d)
    w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
    w_enc = 0.6 * w_dec.T  # [d, d_sae], SAELens layout; shrunk, since the chosen rows overlap
    b_enc = 0.01 * rng.normal(size=D_SAE)
    sae = {k: v.astype(np.float32) for k, v in {"W_enc": w_enc, "b_enc": b_enc, "W_dec": w_dec, "b_dec": b_dec}.items()}
    os.makedirs(os.path.join(OUT, "sae"), exist_ok=True)
    safetensors_io.write(os.path.join(OUT, "sae", "sae_weights.safetensors"), sae)
    with open(os.path.join(OUT, "sae", "cfg.json"), "w") as f:
        json.dump({"architecture": "topk", "d_in": d, "d_sae": D_SAE, "k": K, "dtype": "float32", "device": "cpu",
                   "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
                   "metadata": {"sae_lens_version": "6.18.0", "model_name": "gpt2-quality-fixture", "hook_name": HOOK,
                                "hook_head_index": None, "context_size": seq, "prepend_bos": True}}, f, indent=2)
    S = {k: torch.from_numpy(v.astype(np.float64)) for k, v in sae.items()}  # the float32 weights, exactly

    hooks, clean_logits = forward(W, cfg, tokens, mask)
    x_all = hooks[HOOK] - hooks[HOOK].mean(-1, keepdim=True)  # centred residual [B,T,d]
    real = torch.as_tensor(kind == 0)
    x = x_all[real]  # [T_real, d]
    pre = (x - S["b_dec"]) @ S["W_enc"] + S["b_enc"]
    top = torch.topk(pre, K, dim=-1)
    z = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
    x_hat = z @ S["W_dec"] + S["b_dec"]

    resid = ((x - x_hat) ** 2).sum(-1)
    ev = 1 - resid.mean() / ((x ** 2).sum(-1).mean() - ((x ** 2).mean()) ** 2)
    fvu = resid.sum() / ((x - x.mean(0)) ** 2).sum()
    firing = (z > 0)
    l0 = firing.sum(-1).double().mean()
    per_latent = firing.sum(0).double()
    T = x.shape[0]

    spliced = x_all.clone()
    spliced[real] = x_hat
    sae_logits = blocks_from(W, cfg, spliced, mask, LAYER)
    zero_logits = blocks_from(W, cfg, torch.zeros_like(x_all), mask, LAYER)
    predict = torch.as_tensor((kind[:, :-1] == 0) & (kind[:, 1:] == 0))
    targets = torch.as_tensor(tokens[:, 1:], dtype=torch.long)

    def ce(logits):
        lp = torch.log_softmax(logits[:, :-1], dim=-1)
        return -lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)[predict].mean()

    def kl(logits):
        p = torch.log_softmax(clean_logits[:, :-1], dim=-1)
        q = torch.log_softmax(logits[:, :-1], dim=-1)
        return (p.exp() * (p - q)).sum(-1)[predict].mean()

    ce_clean, ce_sae, ce_zero = ce(clean_logits), ce(sae_logits), ce(zero_logits)
    kl_sae, kl_zero = kl(sae_logits), kl(zero_logits)
    expected = {
        "hook": HOOK, "seqLen": seq, "nWindows": n_windows,
        "tokens": tokens.reshape(-1).tolist(), "mask": mask.reshape(-1).tolist(), "kind": kind.reshape(-1).tolist(),
        "metrics": {
            "tokens": int(T), "predictions": int(predict.sum()),
            "explainedVariance": float(ev), "fvu": float(fvu), "l0": float(l0),
            "deadFraction": float((per_latent == 0).double().mean()),
            "denseAbove1Percent": float((per_latent > 0.01 * T).double().mean()),
            "denseAbove10Percent": float((per_latent > 0.1 * T).double().mean()),
            "ceClean": float(ce_clean), "ceWithSae": float(ce_sae), "ceZeroAblation": float(ce_zero),
            "ceLossScore": float((ce_zero - ce_sae) / (ce_zero - ce_clean)),
            "klWithSae": float(kl_sae), "klZeroAblation": float(kl_zero), "klScore": float((kl_zero - kl_sae) / kl_zero),
        },
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(json.dumps(expected["metrics"], indent=1))


if __name__ == "__main__":
    main()
