"""GPT-2 training reference (llm.c's test_gpt2.c, in PyTorch): the loss and every parameter gradient of a tiny
GPT-2 on a fixed batch, and the losses of the first 10 AdamW steps, for test/gpt2_train_reference.test.ts.

Run (Debian's PyTorch):
  /usr/bin/python3 tools/reference/train_gpt2_reference.py      -> test/fixtures/gpt2_train/

Model: the plain-PyTorch GPT-2 of gpt2_reference.py (HF layout, Conv1D y = x @ W + b, LayerNorm with biased
variance, GELU tanh form, causal attention with the right-padding mask, LM head tied to wte), here with
n_layer 2, n_head 3, n_embd 24, vocab 67, n_positions 12, eps 1e-5. The vocabulary is deliberately not a
multiple of 4 (the SIMD softmax's tail path) and d_head = 8.
Weights: numpy default_rng(20261201): matrices N(0, 0.05²), biases N(0, 0.02²), LayerNorm gains 1 + N(0, 0.1²),
rounded to float32 (these float32 values are the fixture's initial weights).
Batch: B = 3 sequences of T = 10 random tokens with random targets; sequence 2 is right-padded after 7 tokens
(mask 0 and target -1 on its last 3 positions: padded positions are neither attended to nor scored).
Loss: mean over the 27 scored positions of −log softmax(logits)[target] (= F.cross_entropy, ignore_index -1).

Everything is computed in float64 from the float32 weights and the results cast to float32, so the fixture is
as exact as float32 storage allows; the TypeScript trainer is float32 (with float64 reductions), and the test
states its tolerances against these values.

Optimiser (the same code path as `train-lm`): AdamW (torch.optim.AdamW, float64) with betas (0.9, 0.95), eps 1e-8,
weight decay 0.1 on matrices (dim >= 2) only, the gradient clipped to global norm 1.0 (clip_grad_norm_), and the
learning rate of step s (0-based) from the warmup + cosine schedule
  lr(s) = max_lr·(s+1)/warmup                               for s < warmup
        = min_lr + ½(max_lr − min_lr)(1 + cos(π·(s − warmup)/(steps − warmup)))   otherwise
with max_lr 3e-2, min_lr 3e-3, warmup 3, steps 10 — the same batch every step. The losses BEFORE each of the
10 updates are recorded, with each step's gradient norm and learning rate, and the loss after the last update.

Writes test/fixtures/gpt2_train/:
  inputs.safetensors     the initial weights (HF keys) + batch.tokens / batch.targets / batch.mask (I32 [B, T])
  reference.safetensors  grad.<key> (float32) for every parameter, and loss [1]
  reference.json         config, hyper-parameters, loss, step_losses[10], grad_norms[10], lrs[10], final_loss
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import gpt2_reference  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "gpt2_train")
SEED = 20261201
CFG = {"n_layer": 2, "n_head": 3, "n_embd": 24, "n_positions": 12, "vocab_size": 67, "layer_norm_epsilon": 1e-5}
HYPER = {"max_lr": 3e-2, "min_lr": 3e-3, "warmup": 3, "steps": 10, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
         "weight_decay": 0.1, "grad_clip": 1.0}
B, T, PAD_FROM = 3, 10, 7


def param_shapes(cfg):
    d, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    shapes = {"wte.weight": (V, d), "wpe.weight": (P, d), "ln_f.weight": (d,), "ln_f.bias": (d,)}
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        shapes.update({p + "ln_1.weight": (d,), p + "ln_1.bias": (d,), p + "attn.c_attn.weight": (d, 3 * d),
                       p + "attn.c_attn.bias": (3 * d,), p + "attn.c_proj.weight": (d, d), p + "attn.c_proj.bias": (d,),
                       p + "ln_2.weight": (d,), p + "ln_2.bias": (d,), p + "mlp.c_fc.weight": (d, 4 * d),
                       p + "mlp.c_fc.bias": (4 * d,), p + "mlp.c_proj.weight": (4 * d, d), p + "mlp.c_proj.bias": (d,)})
    return shapes


def initial_weights(rng):
    W = {}
    for key, shape in sorted(param_shapes(CFG).items()):
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            v = 1 + 0.1 * rng.standard_normal(shape)
        elif len(shape) == 1:
            v = 0.02 * rng.standard_normal(shape)
        else:
            v = 0.05 * rng.standard_normal(shape)
        W[key] = v.astype(np.float32)
    return W


def lr_at(step):
    h = HYPER
    if step < h["warmup"]:
        return h["max_lr"] * (step + 1) / h["warmup"]
    progress = (step - h["warmup"]) / max(1, h["steps"] - h["warmup"])
    return h["min_lr"] + 0.5 * (h["max_lr"] - h["min_lr"]) * (1 + math.cos(math.pi * progress))


def loss_of(W, tokens, targets, mask):
    _, logits = gpt2_reference.forward(W, CFG, tokens, mask)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, CFG["vocab_size"]), torch.as_tensor(targets.reshape(-1), dtype=torch.long), ignore_index=-1)


def main():
    rng = np.random.default_rng(SEED)
    W32 = initial_weights(rng)
    tokens = rng.integers(0, CFG["vocab_size"], (B, T)).astype(np.int32)
    targets = rng.integers(0, CFG["vocab_size"], (B, T)).astype(np.int32)
    mask = np.ones((B, T), dtype=np.int32)
    mask[2, PAD_FROM:] = 0
    targets[2, PAD_FROM:] = -1
    tokens[2, PAD_FROM:] = CFG["vocab_size"] - 1  # the padding id (as <|endoftext|> in GPT-2)

    params = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in W32.items()}
    loss = loss_of(params, tokens, targets, mask)
    loss.backward()
    grads = {f"grad.{k}": p.grad.numpy().astype(np.float32) for k, p in params.items()}

    # 10 AdamW steps from the same initial weights.
    params = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in W32.items()}
    decay = [p for k, p in sorted(params.items()) if p.dim() >= 2]
    no_decay = [p for k, p in sorted(params.items()) if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": HYPER["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=HYPER["max_lr"], betas=(HYPER["beta1"], HYPER["beta2"]), eps=HYPER["eps"])
    step_losses, norms, lrs = [], [], []
    for step in range(HYPER["steps"]):
        opt.zero_grad()
        l = loss_of(params, tokens, targets, mask)
        l.backward()
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), HYPER["grad_clip"])
        lr = lr_at(step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        step_losses.append(float(l))
        norms.append(float(norm))
        lrs.append(lr)
    with torch.no_grad():
        final_loss = float(loss_of(params, tokens, targets, mask))

    os.makedirs(OUT, exist_ok=True)
    inputs = dict(W32)
    inputs.update({"batch.tokens": tokens, "batch.targets": targets, "batch.mask": mask})
    safetensors_io.write(os.path.join(OUT, "inputs.safetensors"), inputs)
    grads["loss"] = np.array([float(loss)], dtype=np.float32)
    safetensors_io.write(os.path.join(OUT, "reference.safetensors"), grads)
    summary = {"config": CFG, "hyper": HYPER, "batch": B, "seq": T, "loss": float(loss), "step_losses": step_losses,
               "grad_norms": norms, "lrs": lrs, "final_loss": final_loss, "torch": torch.__version__,
               "note": "float64 computation from float32 weights; see tools/reference/train_gpt2_reference.py"}
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps({"loss": float(loss), "step_losses": step_losses, "grad_norms": norms, "final_loss": final_loss}, indent=1))


if __name__ == "__main__":
    main()
