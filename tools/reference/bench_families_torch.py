"""PyTorch forward for the model-family benchmark (bench_torch.py --only families; bench/families.ts runs ours):
the same shapes, batch and sequence, to the last block's output (no logits), float32, torch.no_grad, random weights.

Each family's block as Hugging Face computes it (the numerics are checked elsewhere: hf_decoder_reference.py); this
file only has to do the same work: GPT-2 (LayerNorm, fused q|k|v, tanh GELU, learned positions), GPT-NeoX (parallel
residual, rotary on a quarter of each head, exact GELU), Llama (RMSNorm, GQA, full rotary, SwiGLU) and Gemma-2 (four
RMSNorms, soft-capped attention, sliding window on even layers, gelu-tanh gated MLP, √d embedding scale). Attention is
q·kᵀ, mask, softmax, ·v per head in batched matmuls (torch 1.13 has no scaled_dot_product_attention).

Shapes and keys as bench/families.ts: family.<family>.<shape>[.bf16].tokens_per_s (.bf16: weights stored as bfloat16
and computed in float32 after an up-front conversion, PyTorch's usual CPU path for bf16 checkpoints).
"""
import math

import torch
import torch.nn.functional as F

SHAPES = [
    dict(name="pythia160m", d=768, heads=12, kv=12, mlp=3072, vocab=50304, layers=4),
    dict(name="llama1b", d=2048, heads=32, kv=8, mlp=8192, vocab=128256, layers=2),
]
BATCH, SEQ = 2, 256
FAMILIES = ["gpt2", "gpt_neox", "llama", "gemma2"]


def rotary(x, dims, base=10000.0):
    """rotate_half rotary on the first `dims` of the last axis; x [B, H, T, hd]."""
    T = x.shape[-2]
    inv = 1.0 / (base ** (torch.arange(0, dims, 2, dtype=torch.float32) / dims))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv)
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos(), emb.sin()
    r, rest = x[..., :dims], x[..., dims:]
    half = dims // 2
    rot = torch.cat((-r[..., half:], r[..., :half]), -1)
    return torch.cat((r * cos + rot * sin, rest), -1)


def rms(x, w, plus_one=False, eps=1e-6):
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return x * (1 + w) if plus_one else x * w


def attention(q, k, v, scale, window=None, softcap=None):
    T = q.shape[-2]
    s = (q @ k.transpose(-1, -2)) * scale
    if softcap is not None:
        s = torch.tanh(s / softcap) * softcap
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    if window is not None:
        mask = mask & ~torch.ones(T, T, dtype=torch.bool).tril(-window)
    s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, -1) @ v


def make(family, s, gen):
    d, H, KV, f, L = s["d"], s["heads"], s["kv"], s["mlp"], s["layers"]
    if family in ("gpt2", "gpt_neox"):
        KV = H
    hd = d // H
    w = lambda *shape: torch.randn(*shape, generator=gen) * 0.02  # noqa: E731
    layers = []
    for _ in range(L):
        mlp_in = 2 * f if family in ("llama", "gemma2") else (4 * d if family == "gpt2" else f)
        mlp_w = 4 * d if family == "gpt2" else f
        layers.append(dict(qkv=w((H + 2 * KV) * hd, d), o=w(d, H * hd), up=w(mlp_in, d), down=w(d, mlp_w),
                           b1=torch.zeros(d), g1=torch.ones(d), g2=torch.ones(d), b2=torch.zeros(d),
                           g3=torch.zeros(d), g4=torch.zeros(d), bq=torch.zeros((H + 2 * KV) * hd), bm=torch.zeros(mlp_in)))
    return dict(family=family, d=d, H=H, KV=KV, hd=hd, f=f, layers=layers, emb=w(s["vocab"], d), pos=w(1024, d))


def forward(m, tokens):
    fam, d, H, KV, hd = m["family"], m["d"], m["H"], m["KV"], m["hd"]
    B, T = tokens.shape
    x = F.embedding(tokens, m["emb"])
    if fam == "gpt2":
        x = x + m["pos"][:T]
    if fam == "gemma2":
        x = x * math.sqrt(d)
    for i, p in enumerate(m["layers"]):
        if fam in ("gpt2", "gpt_neox"):
            h = F.layer_norm(x, (d,), p["g1"], p["b1"])
        else:
            h = rms(x, p["g3"] if fam == "gemma2" else p["g1"], fam == "gemma2")
        qkv = F.linear(h, p["qkv"], p["bq"] if fam in ("gpt2", "gpt_neox") else None)
        if fam == "gpt_neox":
            qkv = qkv.view(B, T, H, 3 * hd).transpose(1, 2)
            q, k, v = qkv.split(hd, -1)
            q, k = rotary(q, hd // 4), rotary(k, hd // 4)
        else:
            q, k, v = qkv.split([H * hd, KV * hd, KV * hd], -1)
            q, k, v = (t.view(B, T, -1, hd).transpose(1, 2) for t in (q, k, v))
            if fam != "gpt2":
                q, k = rotary(q, hd), rotary(k, hd)
            if KV != H:
                k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        window = 128 if fam == "gemma2" and i % 2 == 0 else None
        a = attention(q, k, v, 1 / math.sqrt(hd), window, 50.0 if fam == "gemma2" else None)
        a = F.linear(a.transpose(1, 2).reshape(B, T, H * hd), p["o"])
        if fam == "gemma2":
            a = rms(a, p["g4"], True)
        if fam == "gpt_neox":
            h2 = F.layer_norm(x, (d,), p["g2"], p["b2"])
            mlp = F.linear(F.gelu(F.linear(h2, p["up"], p["bm"])), p["down"])
            x = mlp + a + x
            continue
        x = x + a
        if fam == "gpt2":
            h2 = F.layer_norm(x, (d,), p["g2"], p["b2"])
            mlp = F.linear(F.gelu(F.linear(h2, p["up"], p["bm"]), approximate="tanh"), p["down"])
        else:
            h2 = rms(x, p["g2"] if fam == "llama" else p["g3"], fam == "gemma2")
            gate, up = F.linear(h2, p["up"]).chunk(2, -1)
            act = F.silu(gate) if fam == "llama" else F.gelu(gate, approximate="tanh")
            mlp = F.linear(act * up, p["down"])
            if fam == "gemma2":
                mlp = rms(mlp, p["g4"], True)
        x = x + mlp
    return x


def bench_families(quick, min_time, median_seconds, log):
    out = {}
    gen = torch.Generator().manual_seed(0)
    tokens = torch.arange(BATCH * SEQ).remainder(50000).view(BATCH, SEQ)
    for s in (SHAPES[:1] if quick else SHAPES):
        for fam in FAMILIES:
            for bf16 in ([False, True] if s["name"] == "llama1b" and fam == "llama" else [False]):
                m = make(fam, s, gen)
                if bf16:
                    # Weights stored as bfloat16 and widened to float32 inside each forward (as ours widens panels on
                    # the fly): PyTorch's CPU path for a bf16 checkpoint computed in float32.
                    layers16 = [{k: v.to(torch.bfloat16) for k, v in p.items()} for p in m["layers"]]

                    def run(m=m, layers16=layers16):
                        return forward(dict(m, layers=[{k: v.float() for k, v in p.items()} for p in layers16]), tokens)
                else:
                    def run(m=m):
                        return forward(m, tokens)
                with torch.no_grad():
                    sec = median_seconds(run, min_time)
                key = f"family.{fam}.{s['name']}{'.bf16' if bf16 else ''}.tokens_per_s"
                out[key] = round(BATCH * SEQ / sec, 1)
                log(f"  {key}: {out[key]}")
    return out
