"""A PyTorch CPU reference trainer for every SAE recipe of src/sae/arch/, written the straightforward dense way
(full encoder matmul, dense activations, dense decoder matmul, autograd, torch.optim.Adam). It is the yardstick for
the TypeScript trainer's speed (tools/reference/bench_torch.py) and, through --self-check, is tied to the same
definitions as the step fixtures (tools/reference/sae_reference.py, sae_arch_reference.py).

Run:
  /usr/bin/python3 tools/reference/sae_torch.py --self-check
      the steps of test/fixtures/sae_step/ and test/fixtures/sae_arch/ through this trainer; prints max differences.
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
  relu-l1, jumprelu, batchtopk, matryoshka-batchtopk, gated: as in sae_arch_reference.py (whose autograd functions
    this module uses), with the recipes' defaults (src/sae/arch/*.ts): relu-l1 λ 5 and gradient clipping at 1;
    jumprelu λ 1, bandwidth 0.05; batchtopk/matryoshka the topk recipe's FVU + AuxK, projection, renormalisation;
    gated λ 5. The sparsity coefficient is fixed here (the TypeScript trainer steers it toward a target L0; the
    cost of a step does not depend on it).
A step = forward + loss + backward + (projection) + (clipping) + Adam + (renormalisation) + dead-latent
bookkeeping; all in float32.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sae_arch_reference as arch  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PARAMS = ("W_enc", "b_enc", "W_dec", "b_dec")
RECIPES = ("topk", "seed-report", "relu-l1", "jumprelu", "batchtopk", "matryoshka-batchtopk", "gated")
EXTRA = {"jumprelu": ("log_threshold",), "gated": ("r_mag", "b_mag")}


class TorchSAE:
    def __init__(self, recipe, d_in, n, k, lr=None, k_aux=None, aux_coef=1.0 / 32, dead_after_tokens=10_000_000,
                 seed=0, b_dec_init=None, lam=None, widths=None, clip=None, eps=None):
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe}")
        self.lam = {"relu-l1": 5.0, "jumprelu": 1.0, "gated": 5.0}.get(recipe, 0.0) if lam is None else lam
        self.widths = widths or [w for w in dict.fromkeys([n >> 6, n >> 4, n >> 2, n]) if w >= 1]
        self.clip = (1.0 if recipe == "relu-l1" else 0.0) if clip is None else clip
        self.threshold = -1.0
        self.recipe, self.d_in, self.n, self.k = recipe, d_in, n, k
        self.k_aux = d_in // 2 if k_aux is None else k_aux
        self.aux_coef, self.dead_after_tokens = aux_coef, dead_after_tokens
        g = torch.Generator().manual_seed(seed)
        if recipe != "seed-report":
            W_dec = torch.randn(n, d_in, generator=g)
            W_dec /= W_dec.norm(dim=1, keepdim=True)
            init = {"W_enc": W_dec.T.contiguous(), "b_enc": torch.zeros(n), "W_dec": W_dec,
                    "b_dec": torch.zeros(d_in) if b_dec_init is None else b_dec_init.clone()}
            if recipe == "jumprelu":
                init["log_threshold"] = torch.full((n,), math.log(0.01))
            if recipe == "gated":
                init.update({"r_mag": torch.zeros(n), "b_mag": torch.zeros(n)})
            unit = recipe in ("topk", "batchtopk", "matryoshka-batchtopk")
            lr = (1e-3 if lr is None else lr)
            eps = (6.25e-10 if unit else 1e-8) if eps is None else eps
        else:
            bound = 1.0 / math.sqrt(d_in)
            W_enc = (torch.rand(d_in, n, generator=g) * 2 - 1) * bound
            init = {"W_enc": W_enc, "b_enc": (torch.rand(n, generator=g) * 2 - 1) * bound,
                    "W_dec": W_enc.T.contiguous(), "b_dec": torch.zeros(d_in)}
            lr, eps = (1e-3 if lr is None else lr), (1e-8 if eps is None else eps)
        self.names = PARAMS + EXTRA.get(recipe, ())
        self.p = {name: init[name].clone().requires_grad_(True) for name in self.names}
        self.opt = torch.optim.Adam([self.p[name] for name in self.names], lr=lr, betas=(0.9, 0.999), eps=eps,
                                    weight_decay=0.0, foreach=False)
        self.since_fired = torch.zeros(n, dtype=torch.long)

    def load(self, tensors):
        with torch.no_grad():
            for name in self.names:
                self.p[name].copy_(tensors[name])

    def dead_mask(self):
        return self.since_fired >= self.dead_after_tokens

    def step(self, x, dead=None, return_grads=False):
        """One training step on x [B, d_in] (float32). dead: bool [n] or None (use the tracked mask).
        Returns (dict of floats, gradients before the decoder projection if return_grads else None)."""
        if self.recipe not in ("topk", "seed-report"):
            return self.arch_step(x, dead, return_grads)
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


    def arch_step(self, x, dead, return_grads):
        """relu-l1, jumprelu, batchtopk, matryoshka-batchtopk, gated: the math of sae_arch_reference.py."""
        p, r = self.p, self.recipe
        self.opt.zero_grad(set_to_none=True)
        dead = self.dead_mask() if dead is None else dead
        state = {"threshold": self.threshold}
        if r == "relu-l1":
            loss, parts = arch.relu_l1_forward(p, x, self.lam, check=False)
        elif r == "jumprelu":
            loss, parts = arch.jumprelu_forward(p, x, self.lam, check=False)
        elif r == "gated":
            loss, parts = arch.gated_forward(p, x, self.lam, check=False)
        else:
            widths = self.widths if r == "matryoshka-batchtopk" else [self.n]
            loss, parts = arch.batch_topk_forward(p, x, widths, dead, state, k=self.k, k_aux=self.k_aux, check=False)
        loss.backward()
        grads = {name: p[name].grad.detach().clone() for name in self.names} if return_grads else None
        with torch.no_grad():
            unit = r in ("batchtopk", "matryoshka-batchtopk")
            if unit:
                w, gw = p["W_dec"], p["W_dec"].grad
                gw.sub_((gw * w).sum(1, keepdim=True) * w)
            if self.clip > 0:
                torch.nn.utils.clip_grad_norm_([p[name] for name in self.names], self.clip)
            self.opt.step()
            if unit:
                p["W_dec"].div_(p["W_dec"].norm(dim=1, keepdim=True))
            fired = (parts["acts"] > 0).any(0)
            self.since_fired += x.shape[0]
            self.since_fired[fired] = 0
        self.threshold = state["threshold"]
        out = {k: float(v) for k, v in parts.items() if k != "acts"}
        out["loss"] = float(loss)
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
    fa = os.path.join(ROOT, "test", "fixtures", "sae_arch")
    with open(os.path.join(fa, "params.json")) as f:
        params = json.load(f)
    for recipe, h in params["recipes"].items():
        t, _ = safetensors_io.read(os.path.join(fa, h["file"]))
        t = {k: torch.from_numpy(np.array(v)) for k, v in t.items()}
        sae = TorchSAE(recipe, params["d_in"], params["d_sae"], params["k"], lr=params["lr"], k_aux=params["k_aux"],
                       lam=h["lambda"], widths=params["matryoshka_widths"], clip=h["grad_clip"], eps=h["eps"])
        sae.load({name: t["init." + name] for name in sae.names})
        dead = t["dead_mask"].bool() if "dead_mask" in t else torch.zeros(params["d_sae"], dtype=torch.bool)
        for s in (1, 2):
            out, grads = sae.step(t[f"step{s}.x"], dead, return_grads=True)
            worst[f"{recipe} step{s} loss"] = abs(out["loss"] - float(t[f"step{s}.loss.total"]))
            for name in sae.names:
                worst[f"{recipe} step{s} grad.{name}"] = float((grads[name] - t[f"step{s}.grad.{name}"]).abs().max())
                worst[f"{recipe} step{s} after.{name}"] = float((sae.p[name].detach() - t[f"step{s}.after.{name}"]).abs().max())
    for k, v in worst.items():
        print(f"{k:44s} max abs diff {v:.2e}")
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
    ap.add_argument("--recipe", default="topk", choices=list(RECIPES))
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
