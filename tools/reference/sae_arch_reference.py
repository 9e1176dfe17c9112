"""Reference training steps of the SAE architectures beyond topk/seed-report (src/sae/arch/*.ts): relu-l1,
jumprelu, batchtopk, matryoshka-batchtopk and gated. For each, two steps on two batches from the same initial
weights: forward, loss terms, every parameter's gradient (torch.autograd), the update (clipping, decoder
projection/renormalisation as the recipe says) and torch.optim.Adam(foreach=False).

Run:  /usr/bin/python3 tools/reference/sae_arch_reference.py     (writes test/fixtures/sae_arch/; deterministic)

Float32 throughout, as the TypeScript trainer. Shapes: d_in 16, d_sae 32, k 4, batch 8. Layout (SAELens):
W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in]; extra per-latent tensors: jumprelu
log_threshold; gated b_gate (stored as b_enc), r_mag, b_mag. Data and initial weights are drawn per recipe and
then checked to be tie-free (the script tries generator seeds until they are): no pre-activation within 1e-3 of
a decision boundary (ReLU kink, a JumpReLU threshold or the edges of its rectangle window, the gate, the
BatchTopK cut between the k·B-th and the next value, AuxK's cut among dead latents).

Recipes (the TypeScript modules' headers state the same math):
  relu-l1:   f = ReLU((x − b_dec)W_enc + b_enc); loss = Σ_d(x̂ − x)² mean over rows + λ·mean_rows Σ_j f_j‖W_dec_j‖;
             λ = 0.3; gradient norm clipped to 0.05 (small, so that clipping happens here), Adam(1e-3, 0.9, 0.999, 1e-8).
  jumprelu:  θ = exp(log_threshold); f = pre·[pre > θ]; loss = rows-mean Σ_d(x̂ − x)² + λ·mean_rows Σ_j H(pre − θ);
             straight-through estimators with the rectangle kernel (bandwidth 0.05), as SAELens's JumpReLU and
             Step autograd functions; λ = 0.5; Adam(1e-3, 0.9, 0.999, 1e-8).
  batchtopk: a = ReLU(pre); keep the k·B largest entries of the batch; loss = FVU + AuxK/32 (dead latents given,
             k_aux 6); decoder-gradient projection, Adam(1e-3, 0.9, 0.999, 6.25e-10), decoder rows renormalised;
             the inference threshold after each step (first step: the smallest kept activation; then
             θ ← 0.99·θ + 0.01·min).
  matryoshka-batchtopk: batchtopk + Σ over inner widths (4, 12) of FVU(b_dec + Σ_{j<w} z_j W_dec[j]); widths 4, 12, 32.
  gated:     h = (x − b_dec)W_enc; f = [h + b_gate > 0]·ReLU(exp(r_mag)·h + b_mag); loss = rows-mean Σ_d(x̂ − x)²
             + λ·mean_rows Σ_j ReLU(π_gate)‖W_dec_j‖ + rows-mean Σ_d(x − (ReLU(π_gate)W̄_dec + b̄_dec))² with W̄, b̄
             detached; λ = 0.3; Adam(1e-3, 0.9, 0.999, 1e-8).

Files: sae_arch/<recipe>.safetensors with init.<name>, step{1,2}.x, step{s}.loss.{total,rec,fvu,sparsity,aux},
step{s}.grad.<name> (before projection/clipping), step{s}.after.<name>; batchtopk/matryoshka also dead_mask (U8)
and step{s}.threshold; sae_arch/params.json: hyper-parameters and the losses as JSON numbers.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "sae_arch")
D_IN, D_SAE, K, BATCH = 16, 32, 4, 8
MARGIN = 1e-3
BANDWIDTH = 0.05
K_AUX, AUX_COEF = 6, 1.0 / 32
WIDTHS = [4, 12, 32]


class NotTieFree(Exception):
    pass


def near(values, boundary, what, check=True):
    if not check:
        return
    gap = float((values.double() - boundary).abs().min()) if values.numel() else math.inf
    if gap < MARGIN:
        raise NotTieFree(f"{what}: {gap:.2e}")


def batch(g, dirs, offset):
    codes = torch.zeros(BATCH, dirs.shape[0])
    for r in range(BATCH):
        idx = torch.randperm(dirs.shape[0], generator=g)[:3]
        codes[r, idx] = torch.rand(3, generator=g) * 1.5 + 0.5
    return offset + codes @ dirs + 0.5 * torch.randn(BATCH, D_IN, generator=g)


def tied_init(g, norm, extra):
    W_dec = torch.nn.functional.normalize(torch.randn(D_SAE, D_IN, generator=g), dim=1) * norm
    p = {"W_enc": W_dec.T.contiguous().clone(), "b_enc": 0.1 * torch.randn(D_SAE, generator=g), "W_dec": W_dec.clone(),
         "b_dec": 0.2 * torch.randn(D_IN, generator=g)}
    p.update(extra)
    return p


def fvu(x_hat, x):
    return ((x_hat - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()


def rect(u):
    return ((u > -0.5) & (u < 0.5)).to(u)


class JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold):
        ctx.save_for_backward(x, threshold)
        return x * (x > threshold).to(x)

    @staticmethod
    def backward(ctx, grad_output):
        x, threshold = ctx.saved_tensors
        x_grad = (x > threshold).to(x) * grad_output
        threshold_grad = torch.sum(-(threshold / BANDWIDTH) * rect((x - threshold) / BANDWIDTH) * grad_output, dim=0)
        return x_grad, threshold_grad


class Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold):
        ctx.save_for_backward(x, threshold)
        return (x > threshold).to(x)

    @staticmethod
    def backward(ctx, grad_output):
        x, threshold = ctx.saved_tensors
        threshold_grad = torch.sum(-(1.0 / BANDWIDTH) * rect((x - threshold) / BANDWIDTH) * grad_output, dim=0)
        return None, threshold_grad


def aux_k(P, pre, x, x_hat, dead, k_aux=K_AUX, check=True):
    """Gao et al.'s AuxK, normalised by the residual's variance (as the topk recipe)."""
    k_aux = min(k_aux, int(dead.sum()))
    if k_aux == 0:
        return torch.zeros(())
    e = (x - x_hat).detach()
    vals, idx = torch.topk(pre.masked_fill(~dead, float("-inf")), k_aux, dim=1)
    if check:
        near(pre.detach()[:, dead], 0.0, "aux kink")
        s = torch.sort(pre.detach()[:, dead].double(), dim=1, descending=True).values
        if float((s[:, k_aux - 1] - s[:, k_aux]).min()) < MARGIN:
            raise NotTieFree("aux cut")
    e_hat = torch.zeros_like(pre).scatter(1, idx, torch.relu(vals)) @ P["W_dec"]
    return ((e - e_hat) ** 2).sum() / ((e - e.mean(0)) ** 2).sum()


def batch_topk_forward(P, x, widths, dead, state, k=K, k_aux=K_AUX, check=True):
    pre = (x - P["b_dec"]) @ P["W_enc"] + P["b_enc"]
    a = torch.relu(pre)
    flat = a.flatten()
    m = k * x.shape[0]
    if check:
        s = torch.sort(flat.detach().double(), descending=True).values
        if float(s[m - 1] - s[m]) < MARGIN or float(s[m - 1]) < MARGIN:
            raise NotTieFree("batch top-k cut")
    near(pre.detach(), 0.0, "relu kink", check)
    vals, idx = torch.topk(flat, m)
    z = torch.zeros_like(flat).scatter(0, idx, vals).reshape(a.shape)
    x_hat = z @ P["W_dec"] + P["b_dec"]
    main = fvu(x_hat, x)
    nested = torch.zeros(())
    for w in widths[:-1]:
        nested = nested + fvu(z[:, :w] @ P["W_dec"][:w] + P["b_dec"], x)
    aux = aux_k(P, pre, x, x_hat, dead, k_aux, check)
    smallest = float(vals.detach().min())
    state["threshold"] = smallest if state["threshold"] < 0 else 0.99 * state["threshold"] + 0.01 * smallest
    total = main + nested + AUX_COEF * aux
    return total, {"rec": main, "fvu": main, "aux": aux, "nested": nested, "sparsity": torch.zeros(()), "acts": z.detach()}


def relu_l1_forward(P, x, lam, check=True):
    pre = (x - P["b_dec"]) @ P["W_enc"] + P["b_enc"]
    near(pre.detach(), 0.0, "relu kink", check)
    f = torch.relu(pre)
    x_hat = f @ P["W_dec"] + P["b_dec"]
    rec = ((x_hat - x) ** 2).sum(-1).mean()
    sparsity = (f * P["W_dec"].norm(dim=1)).sum(-1).mean()
    return rec + lam * sparsity, {"rec": rec, "fvu": fvu(x_hat, x), "sparsity": sparsity, "aux": torch.zeros(()), "acts": f.detach()}


def jumprelu_forward(P, x, lam, check=True):
    pre = (x - P["b_dec"]) @ P["W_enc"] + P["b_enc"]
    theta = torch.exp(P["log_threshold"])
    d = pre.detach() - theta.detach()
    near(d, 0.0, "threshold", check)
    near(d, BANDWIDTH / 2, "window top", check)
    near(d, -BANDWIDTH / 2, "window bottom", check)
    if check and int((d.abs() < BANDWIDTH / 2).sum()) < 4:
        raise NotTieFree("too few entries in the rectangle window")
    f = JumpReLU.apply(pre, theta)
    x_hat = f @ P["W_dec"] + P["b_dec"]
    rec = ((x_hat - x) ** 2).sum(-1).mean()
    l0 = Step.apply(pre, theta).sum(-1).mean()
    return rec + lam * l0, {"rec": rec, "fvu": fvu(x_hat, x), "sparsity": l0, "aux": torch.zeros(()), "acts": f.detach()}


def gated_forward(P, x, lam, check=True):
    h = (x - P["b_dec"]) @ P["W_enc"]
    pi_gate = h + P["b_enc"]
    pi_mag = torch.exp(P["r_mag"]) * h + P["b_mag"]
    near(pi_gate.detach(), 0.0, "gate", check)
    near(pi_mag.detach(), 0.0, "magnitude kink", check)
    f = (pi_gate > 0).to(h) * torch.relu(pi_mag)
    x_hat = f @ P["W_dec"] + P["b_dec"]
    rec = ((x_hat - x) ** 2).sum(-1).mean()
    gate = torch.relu(pi_gate)
    sparsity = (gate * P["W_dec"].norm(dim=1)).sum(-1).mean()
    aux = ((x - (gate @ P["W_dec"].detach() + P["b_dec"].detach())) ** 2).sum(-1).mean()
    return rec + lam * sparsity + aux, {"rec": rec, "fvu": fvu(x_hat, x), "sparsity": sparsity, "aux": aux, "acts": f.detach()}


RECIPES = {
    "relu-l1": {"norm": 1.0, "extra": lambda g: {}, "lam": 0.3, "eps": 1e-8, "clip": 0.05, "unit": False},
    "jumprelu": {"norm": 1.0, "extra": lambda g: {"log_threshold": torch.log(0.3 + 0.4 * torch.rand(D_SAE, generator=g))},
                 "lam": 0.5, "eps": 1e-8, "clip": 0.0, "unit": False},
    "batchtopk": {"norm": 1.0, "extra": lambda g: {}, "lam": 0.0, "eps": 6.25e-10, "clip": 0.0, "unit": True},
    "matryoshka-batchtopk": {"norm": 1.0, "extra": lambda g: {}, "lam": 0.0, "eps": 6.25e-10, "clip": 0.0, "unit": True},
    "gated": {"norm": 1.0, "extra": lambda g: {"r_mag": 0.2 * torch.randn(D_SAE, generator=g), "b_mag": 0.1 * torch.randn(D_SAE, generator=g)},
              "lam": 0.3, "eps": 1e-8, "clip": 0.0, "unit": False},
}


def run(recipe, seed):
    spec = RECIPES[recipe]
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(24, D_IN, generator=g), dim=1)
    offset = 0.5 * torch.randn(D_IN, generator=g)
    xs = [batch(g, dirs, offset) for _ in range(2)]
    init = tied_init(g, spec["norm"], spec["extra"](g))
    names = list(init.keys())
    dead = torch.zeros(D_SAE, dtype=torch.bool)
    dead[torch.randperm(D_SAE, generator=g)[:12]] = True
    P = {n: init[n].clone().requires_grad_(True) for n in names}
    opt = torch.optim.Adam([P[n] for n in names], lr=1e-3, betas=(0.9, 0.999), eps=spec["eps"], weight_decay=0.0,
                           foreach=False)
    state = {"threshold": -1.0}
    t = {f"init.{n}": init[n] for n in names}
    if recipe in ("batchtopk", "matryoshka-batchtopk"):
        t["dead_mask"] = dead.to(torch.uint8)
    scalars = {}
    for s, x in enumerate(xs, start=1):
        opt.zero_grad(set_to_none=True)
        if recipe == "relu-l1":
            loss, parts = relu_l1_forward(P, x, spec["lam"])
        elif recipe == "jumprelu":
            loss, parts = jumprelu_forward(P, x, spec["lam"])
        elif recipe == "gated":
            loss, parts = gated_forward(P, x, spec["lam"])
        else:
            loss, parts = batch_topk_forward(P, x, WIDTHS if recipe == "matryoshka-batchtopk" else [D_SAE], dead, state)
        loss.backward()
        grads = {n: P[n].grad.detach().clone() for n in names}
        with torch.no_grad():
            if spec["unit"]:
                w, gw = P["W_dec"], P["W_dec"].grad
                gw.sub_((gw * w).sum(1, keepdim=True) * w)
            if spec["clip"] > 0:
                norm = torch.nn.utils.clip_grad_norm_([P[n] for n in names], spec["clip"])
                scalars[f"step{s}_grad_norm"] = float(norm)
            opt.step()
            if spec["unit"]:
                P["W_dec"].div_(P["W_dec"].norm(dim=1, keepdim=True))
        p = f"step{s}."
        t[p + "x"] = x
        t[p + "loss.total"] = loss.detach().reshape(1)
        for key, v in parts.items():
            if key != "acts":
                t[p + "loss." + key] = v.detach().reshape(1)
        for n in names:
            t[p + "grad." + n] = grads[n]
            t[p + "after." + n] = P[n].detach().clone()
        if recipe in ("batchtopk", "matryoshka-batchtopk"):
            t[p + "threshold"] = torch.tensor([state["threshold"]], dtype=torch.float64)
        scalars[f"step{s}_loss"] = float(loss)
        scalars[f"step{s}_parts"] = {key: float(v) for key, v in parts.items() if key != "acts"}
    return t, scalars, {"lambda": spec["lam"], "eps": spec["eps"], "grad_clip": spec["clip"], "unit_norm_decoder": spec["unit"]}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    params = {"description": "Two steps of each architecture; see tools/reference/sae_arch_reference.py. Layout "
                             "W_enc [d_in,d_sae], W_dec [d_sae,d_in]. Float32 PyTorch.",
              "torch_version": torch.__version__, "d_in": D_IN, "d_sae": D_SAE, "k": K, "batch": BATCH, "lr": 1e-3,
              "beta1": 0.9, "beta2": 0.999, "bandwidth": BANDWIDTH, "k_aux": K_AUX, "aux_coefficient": AUX_COEF,
              "matryoshka_widths": WIDTHS, "threshold_rate": 0.01, "tie_free_margin": MARGIN, "recipes": {}}
    for i, recipe in enumerate(RECIPES):
        for seed in range(1000 * (i + 1), 1000 * (i + 1) + 2000):
            try:
                t, scalars, hyper = run(recipe, seed)
                break
            except NotTieFree:
                continue
        else:
            raise SystemExit(f"{recipe}: no tie-free seed")
        file = recipe.replace("-", "_") + ".safetensors"
        safetensors_io.write(os.path.join(OUT, file), {k: v.numpy() for k, v in t.items()},
                             {"recipe": recipe, "computed": "float32 torch.autograd + torch.optim.Adam (torch " + torch.__version__ + ")"})
        params["recipes"][recipe] = {"file": file, "generator_seed": seed, **hyper, **scalars}
        print(recipe, seed, json.dumps(scalars))
    with open(os.path.join(OUT, "params.json"), "w") as f:
        json.dump(params, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
