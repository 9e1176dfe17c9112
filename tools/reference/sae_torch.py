"""A PyTorch CPU reference trainer for Top-K SAEs, written the straightforward dense way (full encoder matmul,
torch.topk, dense scatter, dense decoder matmul, autograd, torch.optim.Adam). It is the yardstick for the
TypeScript trainer's speed (tools/reference/bench_torch.py) and, through --self-check, is tied to the same
definitions as the step fixtures (tools/reference/sae_reference.py).

Run:
  /usr/bin/python3 tools/reference/sae_torch.py --self-check
      one/two steps from test/fixtures/sae_step/ through this trainer; prints max differences to the fixture.
  /usr/bin/python3 tools/reference/sae_torch.py --recipe topk --n 512 --k 32 --batch 4096 --steps 20
      trains on synthetic sparse data (float32, CPU) and prints loss / FVU / dead count per step and rows/s.

Recipes (as in src/sae/config.ts and sae_reference.py); weight layout SAELens: W_enc [d_in, n], b_enc [n],
W_dec [n, d_in], b_dec [d_in]:
  topk (Gao et al. 2024): z = scatter(ReLU(topk((x − b_dec) @ W_enc + b_enc))), x̂ = z @ W_dec + b_dec,
    loss = FVU + (1/32)·AuxK over the dead latents (k_aux = d_in/2 by default, min(k_aux, #dead); skipped when
    none is dead); a latent is dead when it has not fired for `dead_after_tokens` rows; decoder-gradient
    projection, Adam(lr, 0.9, 0.999, eps 6.25e-10), decoder rows renormalised. Init: unit random decoder rows,
    W_enc = W_decᵀ, b_enc = 0, b_dec = mean of the first batch (the TS trainer uses the geometric median;
    irrelevant for speed).
  seed-report: z = scatter(topk(x @ W_enc + b_enc)) (no ReLU), x̂ = z @ W_dec + b_dec, loss = MSE,
    Adam(1e-3, 0.9, 0.999, 1e-8), nn.Linear-style init U(±1/√d_in), W_dec = W_encᵀ, b_dec = 0.
A step = forward + loss + backward + (topk: projection) + Adam + (topk: renormalisation) + dead-latent
bookkeeping; all in float32.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PARAMS = ("W_enc", "b_enc", "W_dec", "b_dec")


class TorchSAE:
    def __init__(self, recipe, d_in, n, k, lr=None, k_aux=None, aux_coef=1.0 / 32, dead_after_tokens=10_000_000,
                 seed=0, b_dec_init=None):
        if recipe not in ("topk", "seed-report"):
            raise ValueError(f"unknown recipe {recipe}")
        self.recipe, self.d_in, self.n, self.k = recipe, d_in, n, k
        self.k_aux = d_in // 2 if k_aux is None else k_aux
        self.aux_coef, self.dead_after_tokens = aux_coef, dead_after_tokens
        g = torch.Generator().manual_seed(seed)
        if recipe == "topk":
            W_dec = torch.randn(n, d_in, generator=g)
            W_dec /= W_dec.norm(dim=1, keepdim=True)
            init = {"W_enc": W_dec.T.contiguous(), "b_enc": torch.zeros(n), "W_dec": W_dec,
                    "b_dec": torch.zeros(d_in) if b_dec_init is None else b_dec_init.clone()}
            lr, eps = (1e-3 if lr is None else lr), 6.25e-10
        else:
            bound = 1.0 / math.sqrt(d_in)
            W_enc = (torch.rand(d_in, n, generator=g) * 2 - 1) * bound
            init = {"W_enc": W_enc, "b_enc": (torch.rand(n, generator=g) * 2 - 1) * bound,
                    "W_dec": W_enc.T.contiguous(), "b_dec": torch.zeros(d_in)}
            lr, eps = (1e-3 if lr is None else lr), 1e-8
        self.p = {name: init[name].clone().requires_grad_(True) for name in PARAMS}
        self.opt = torch.optim.Adam([self.p[name] for name in PARAMS], lr=lr, betas=(0.9, 0.999), eps=eps,
                                    weight_decay=0.0, foreach=False)
        self.since_fired = torch.zeros(n, dtype=torch.long)

    def load(self, tensors):
        with torch.no_grad():
            for name in PARAMS:
                self.p[name].copy_(tensors[name])

    def dead_mask(self):
        return self.since_fired >= self.dead_after_tokens

    def step(self, x, dead=None, return_grads=False):
        """One training step on x [B, d_in] (float32). dead: bool [n] or None (use the tracked mask).
        Returns (dict of floats, gradients before the decoder projection if return_grads else None)."""
        p, relu = self.p, self.recipe == "topk"
        self.opt.zero_grad(set_to_none=True)
        inp = x - p["b_dec"] if relu else x
        pre = inp @ p["W_enc"] + p["b_enc"]
        vals, idx = torch.topk(pre, self.k, dim=1)
        if relu:
            vals = torch.relu(vals)
        z = torch.zeros_like(pre).scatter(1, idx, vals)
        x_hat = z @ p["W_dec"] + p["b_dec"]
        out = {}
        if relu:
            loss = ((x_hat - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
            out["fvu"] = loss.item()
            dead = self.dead_mask() if dead is None else dead
            k_aux = min(self.k_aux, int(dead.sum()))
            if k_aux > 0:
                e = (x - x_hat).detach()
                aux_vals, aux_idx = torch.topk(pre.masked_fill(~dead, float("-inf")), k_aux, dim=1)
                e_hat = torch.zeros_like(pre).scatter(1, aux_idx, torch.relu(aux_vals)) @ p["W_dec"]
                aux = ((e - e_hat) ** 2).sum() / ((e - e.mean(0)) ** 2).sum()
                out["aux"] = aux.item()
                loss = loss + self.aux_coef * aux
            else:
                out["aux"] = 0.0
        else:
            loss = ((x_hat - x) ** 2).mean()
        loss.backward()
        grads = {name: p[name].grad.detach().clone() for name in PARAMS} if return_grads else None
        with torch.no_grad():
            if relu:
                w, gw = p["W_dec"], p["W_dec"].grad
                gw.sub_((gw * w).sum(1, keepdim=True) * w)
            self.opt.step()
            if relu:
                p["W_dec"].div_(p["W_dec"].norm(dim=1, keepdim=True))
            fired = torch.zeros(self.n, dtype=torch.bool)
            fired[idx[vals > 0] if relu else idx.flatten()] = True
            self.since_fired += x.shape[0]
            self.since_fired[fired] = 0
        out["loss"] = loss.item()
        return out, grads


def self_check():
    import safetensors_io
    fx = os.path.join(ROOT, "test", "fixtures", "sae_step")
    worst = {}
    for recipe, file, steps in (("topk", "topk.safetensors", 1), ("seed-report", "seed_report.safetensors", 2)):
        t, _ = safetensors_io.read(os.path.join(fx, file))
        t = {k: torch.from_numpy(np.array(v)) for k, v in t.items()}
        sae = TorchSAE(recipe, 16, 32, 4, lr=1e-3, k_aux=8)
        sae.load({name: t["init." + name] for name in PARAMS})
        for s in range(1, steps + 1):
            dead = t["dead_mask"].bool() if recipe == "topk" else torch.zeros(32, dtype=torch.bool)
            out, grads = sae.step(t[f"step{s}.x"], dead, return_grads=True)
            ref_loss = float(t[f"step{s}.loss.total"] if recipe == "topk" else t[f"step{s}.loss"])
            worst[f"{recipe} step{s} loss"] = abs(out["loss"] - ref_loss)
            for name in PARAMS:
                worst[f"{recipe} step{s} grad.{name}"] = float((grads[name] - t[f"step{s}.grad.{name}"]).abs().max())
                worst[f"{recipe} step{s} after.{name}"] = float((sae.p[name].detach() - t[f"step{s}.after.{name}"]).abs().max())
    for k, v in worst.items():
        print(f"{k:34s} max abs diff {v:.2e}")
    return max(worst.values())


def synthetic(g, rows, d_in, n_true=1024, active=16):
    """Sparse non-negative combinations of `n_true` random unit directions plus noise (float32)."""
    dirs = torch.randn(n_true, d_in, generator=g)
    dirs /= dirs.norm(dim=1, keepdim=True)
    idx = torch.randint(0, n_true, (rows, active), generator=g)
    codes = torch.zeros(rows, n_true).scatter(1, idx, torch.rand(rows, active, generator=g) * 2)
    return codes @ dirs + 0.05 * torch.randn(rows, d_in, generator=g)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--recipe", default="topk", choices=["topk", "seed-report"])
    ap.add_argument("--d-in", type=int, default=768)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.self_check:
        worst = self_check()
        print("self-check", "ok" if worst < 1e-5 else "FAILED", f"(worst {worst:.2e})")
        sys.exit(0 if worst < 1e-5 else 1)
    g = torch.Generator().manual_seed(a.seed)
    data = synthetic(g, a.batch * 4, a.d_in)
    sae = TorchSAE(a.recipe, a.d_in, a.n, a.k, lr=a.lr, seed=a.seed, b_dec_init=data[:a.batch].mean(0),
                   dead_after_tokens=a.batch * 8)
    t0 = time.perf_counter()
    for s in range(a.steps):
        x = data[(s % 4) * a.batch:(s % 4 + 1) * a.batch]
        out, _ = sae.step(x)
        print(f"step {s + 1}: " + ", ".join(f"{k} {v:.5f}" for k, v in out.items()) + f", dead {int(sae.dead_mask().sum())}")
    dt = time.perf_counter() - t0
    print(f"{a.steps * a.batch / dt:.0f} rows/s ({a.threads} threads)")


if __name__ == "__main__":
    main()
