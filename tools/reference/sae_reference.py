"""Reference Top-K SAE training steps (forward, loss, backward, decoder-gradient projection, Adam, decoder
renormalisation) for the TypeScript trainer (src/sae/train_step.ts), for the two recipes of src/sae/config.ts.

Run:  /usr/bin/python3 tools/reference/sae_reference.py      (writes test/fixtures/sae_step/; deterministic)

Everything is computed in float32 with torch.autograd and torch.optim.Adam(foreach=False) (PyTorch 1.13):
the trainer runs in float32 too, so this is the arithmetic a PyTorch user would get, not a float64 ideal.
Compare with a relative tolerance (~1e-5 of each tensor's max |value|), not bit-exactly.

Shapes: d_in 16, d_sae 32, k 4, batch 8.  Weight layout (SAELens): W_enc [d_in, d_sae], b_enc [d_sae],
W_dec [d_sae, d_in] (row j = latent j's decoder direction), b_dec [d_in]. (The TypeScript SAEParams keep
wEnc as [d_sae, d_in]: transpose W_enc when loading.) Top-k ties break to the lower index, but the data are
chosen tie-free: in every row the k-th and (k+1)-th candidates differ by >= 1e-3, and every kept value that
goes through a ReLU is >= 1e-3 away from 0 (checked; the script fails otherwise).

Recipe "topk" (Gao et al. 2024), one Adam step:
  pre   = (x − b_dec) @ W_enc + b_enc                                        [B, d_sae]
  z     = scatter(ReLU(top-k values of pre per row))                        [B, d_sae]
  x̂     = z @ W_dec + b_dec
  fvu   = Σ(x̂ − x)² / Σ(x − mean_over_batch(x))²                          (sums over batch and d_in)
  AuxK: dead_mask [d_sae] given (10 of 32 latents dead); k_aux = min(8, #dead) = 8;
        e = (x − x̂).detach(); aux_pre = pre with live latents set to −inf; z_aux = scatter(ReLU(top-k_aux));
        ê = z_aux @ W_dec (no bias); aux = Σ(e − ê)² / Σ(e − mean_over_batch(e))²
  total = fvu + (1/32)·aux;  backward (gradients flow into W_enc, b_enc, W_dec and b_dec through both terms;
        the denominators are constants).
  decoder projection: g_i ← g_i − (g_i·w_i)·w_i for every decoder row w_i (rows unit-norm at init, formula
        applied as written, no division by |w_i|²);
  Adam (torch.optim.Adam): lr 1e-3, β1 0.9, β2 0.999, eps 6.25e-10, no weight decay, step 1:
        m = (1−β1)g, v = (1−β2)g², p ← p − (lr/(1−β1^t))·m / (√v/√(1−β2^t) + eps);
  then every decoder row is renormalised to unit L2 norm.
  Init: W_dec rows = normalised N(0, I) vectors, W_enc = W_decᵀ, b_enc = 0, b_dec = mean of a separate
  sample of 64 rows from the same distribution as x (only b_dec is stored).
Recipe "seed-report", two Adam steps on two different batches:
  pre = x @ W_enc + b_enc (no b_dec subtraction); z = scatter(top-k values as they are: NO ReLU, may be < 0;
        the last row of each batch is constructed so that some of its kept values are negative);
  x̂ = z @ W_dec + b_dec; loss = mean((x̂ − x)²) over batch × d_in; Adam lr 1e-3, β 0.9/0.999, eps 1e-8;
  no decoder projection or normalisation. Init like torch.nn.Linear(d_in, d_sae): W_enc, b_enc ~ U(±1/√d_in),
  W_dec = W_encᵀ (a copy, not tied), b_dec = 0.

Files (all F32 unless noted; see README.md for the full list):
  sae_step/topk.safetensors, sae_step/seed_report.safetensors, sae_step/params.json
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "sae_step")
D_IN, D_SAE, K, BATCH = 16, 32, 4, 8
K_AUX, N_DEAD, AUX_COEF = 8, 10, 1.0 / 32
MARGIN = 1e-3
PARAMS = ("W_enc", "b_enc", "W_dec", "b_dec")


class NotTieFree(Exception):
    pass


def structured_batch(g, n, dirs, offset):
    """x = offset + sparse non-negative codes over `dirs` (3 of them per row) + Gaussian noise, roughly N(0,1)."""
    codes = torch.zeros(n, dirs.shape[0])
    for r in range(n):
        idx = torch.randperm(dirs.shape[0], generator=g)[:3]
        codes[r, idx] = torch.rand(3, generator=g) * 1.5 + 0.5
    return offset + codes @ dirs + 0.5 * torch.randn(n, D_IN, generator=g)


def check_topk(values, k, what, relu):
    """values [B, n] float32: the k-th and (k+1)-th largest differ by >= MARGIN; kept values clear 0 if relu."""
    s = torch.sort(values.double(), dim=1, descending=True).values
    if s.shape[1] > k and float((s[:, k - 1] - s[:, k]).min()) < MARGIN:
        raise NotTieFree(f"{what}: top-{k} boundary gap {float((s[:, k - 1] - s[:, k]).min()):.2e}")
    if relu and float(s[:, :k].abs().min()) < MARGIN:
        raise NotTieFree(f"{what}: a kept value is within {MARGIN} of the ReLU kink")


def topk_scatter(pre, k, relu):
    vals, idx = torch.topk(pre, k, dim=1, largest=True, sorted=True)
    if relu:
        vals = torch.relu(vals)
    return torch.zeros_like(pre).scatter(1, idx, vals), idx


def adam(params, lr, eps):
    return torch.optim.Adam([params[n] for n in PARAMS], lr=lr, betas=(0.9, 0.999), eps=eps, weight_decay=0.0,
                            amsgrad=False, foreach=False)


def adam_check(before, grad, after, lr, eps):
    """Max |float64 Adam step-1 formula − torch.optim.Adam's float32 result| (cross-check of the optimiser)."""
    b1, b2 = 0.9, 0.999
    m1 = (1 - b1) * grad.double()
    v1 = (1 - b2) * grad.double() ** 2
    expect = before.double() - (lr / (1 - b1)) * m1 / (v1.sqrt() / math.sqrt(1 - b2) + eps)
    return float((expect - after.double()).abs().max())


def run_topk(seed):
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(24, D_IN, generator=g), dim=1)
    offset = 0.5 * torch.randn(D_IN, generator=g)
    x = structured_batch(g, BATCH, dirs, offset)
    sample = structured_batch(g, 64, dirs, offset)
    W_dec = torch.nn.functional.normalize(torch.randn(D_SAE, D_IN, generator=g), dim=1)
    init = {"W_enc": W_dec.T.contiguous().clone(), "b_enc": torch.zeros(D_SAE), "W_dec": W_dec.clone(),
            "b_dec": sample.mean(0)}
    dead = torch.zeros(D_SAE, dtype=torch.bool)
    dead[torch.randperm(D_SAE, generator=g)[:N_DEAD]] = True
    k_aux = min(K_AUX, int(dead.sum()))

    P = {n: init[n].clone().requires_grad_(True) for n in PARAMS}
    pre = (x - P["b_dec"]) @ P["W_enc"] + P["b_enc"]
    check_topk(pre.detach(), K, "topk pre", relu=True)
    z, idx = topk_scatter(pre, K, relu=True)
    x_hat = z @ P["W_dec"] + P["b_dec"]
    fvu = ((x_hat - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    e = (x - x_hat).detach()
    aux_pre = pre.masked_fill(~dead, float("-inf"))
    check_topk(pre.detach()[:, dead], k_aux, "aux pre", relu=True)
    z_aux, idx_aux = topk_scatter(aux_pre, k_aux, relu=True)
    e_hat = z_aux @ P["W_dec"]
    aux = ((e - e_hat) ** 2).sum() / ((e - e.mean(0)) ** 2).sum()
    total = fvu + AUX_COEF * aux
    total.backward()
    grads = {n: P[n].grad.detach().clone() for n in PARAMS}
    with torch.no_grad():
        w = P["W_dec"]
        gw = P["W_dec"].grad
        P["W_dec"].grad = gw - (gw * w).sum(1, keepdim=True) * w
    grad_proj = P["W_dec"].grad.detach().clone()
    opt = adam(P, 1e-3, 6.25e-10)
    opt.step()
    state = {n: opt.state[P[n]] for n in PARAMS}
    with torch.no_grad():
        W_dec_unnorm = P["W_dec"].detach().clone()
        P["W_dec"].div_(P["W_dec"].norm(dim=1, keepdim=True))
    t = {"dead_mask": dead.to(torch.uint8), "step1.x": x}
    t.update({f"init.{n}": init[n] for n in PARAMS})
    t.update({"step1.fwd.pre": pre.detach(), "step1.fwd.z": z.detach(), "step1.fwd.x_hat": x_hat.detach(),
              "step1.fwd.topk_indices": torch.sort(idx, dim=1).values.to(torch.int32),
              "step1.fwd.e": e, "step1.fwd.aux_indices": torch.sort(idx_aux, dim=1).values.to(torch.int32),
              "step1.fwd.z_aux": z_aux.detach(), "step1.fwd.e_hat": e_hat.detach(),
              "step1.loss.fvu": fvu.detach().reshape(1), "step1.loss.aux": aux.detach().reshape(1),
              "step1.loss.total": total.detach().reshape(1), "step1.grad.W_dec_projected": grad_proj,
              "step1.after.W_dec_unnormalised": W_dec_unnorm})
    for n in PARAMS:
        t[f"step1.grad.{n}"] = grads[n]
        t[f"step1.adam_m.{n}"] = state[n]["exp_avg"].clone()
        t[f"step1.adam_v.{n}"] = state[n]["exp_avg_sq"].clone()
        t[f"step1.after.{n}"] = P[n].detach().clone()
    adam_err = max(adam_check(init[n], grad_proj if n == "W_dec" else grads[n],
                              W_dec_unnorm if n == "W_dec" else P[n].detach(), 1e-3, 6.25e-10) for n in PARAMS)
    scalars = {"fvu": fvu.item(), "aux": aux.item(), "total": total.item(), "k_aux": k_aux,
               "dead_latents": [int(i) for i in torch.nonzero(dead).flatten()], "adam_formula_max_abs_diff": adam_err}
    return t, scalars


def negative_row(W_enc, b_enc, g):
    """An input row (|x| <= 4) for which most pre-activations x @ W_enc + b_enc are negative: the best of 20
    restarts of 300 Adam steps on Σ ReLU(pre + 0.05). Puts negative values among the kept top-k so the no-ReLU
    path is exercised."""
    best, best_neg = None, -1
    for _ in range(20):
        x = torch.randn(D_IN, generator=g).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.05, foreach=False)
        for _ in range(300):
            loss = torch.relu(x @ W_enc + b_enc + 0.05).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.mul_(min(1.0, 4.0 / float(x.norm())))
        neg = int((x.detach() @ W_enc + b_enc < 0).sum())
        if neg > best_neg:
            best, best_neg = x.detach().clone(), neg
    return best


def run_seed_report(seed):
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(24, D_IN, generator=g), dim=1)
    offset = 0.5 * torch.randn(D_IN, generator=g)
    xs = [structured_batch(g, BATCH, dirs, offset) for _ in range(2)]
    bound = 1.0 / math.sqrt(D_IN)
    W_enc = (torch.rand(D_IN, D_SAE, generator=g) * 2 - 1) * bound
    b_enc = (torch.rand(D_SAE, generator=g) * 2 - 1) * bound
    init = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_enc.T.contiguous().clone(), "b_dec": torch.zeros(D_IN)}
    for x in xs:  # the last row of each batch keeps negative values in its top-k
        x[-1] = negative_row(W_enc, b_enc, g)
    P = {n: init[n].clone().requires_grad_(True) for n in PARAMS}
    opt = adam(P, 1e-3, 1e-8)
    t = {f"init.{n}": init[n] for n in PARAMS}
    scalars = {}
    for step, x in enumerate(xs, start=1):
        s = f"step{step}."
        before = {n: P[n].detach().clone() for n in PARAMS}
        opt.zero_grad(set_to_none=True)
        pre = x @ P["W_enc"] + P["b_enc"]
        check_topk(pre.detach(), K, f"seed-report step {step} pre", relu=False)
        z, idx = topk_scatter(pre, K, relu=False)
        x_hat = z @ P["W_dec"] + P["b_dec"]
        loss = ((x_hat - x) ** 2).mean()
        loss.backward()
        grads = {n: P[n].grad.detach().clone() for n in PARAMS}
        opt.step()
        t.update({s + "x": x, s + "fwd.pre": pre.detach(), s + "fwd.z": z.detach(), s + "fwd.x_hat": x_hat.detach(),
                  s + "fwd.topk_indices": torch.sort(idx, dim=1).values.to(torch.int32), s + "loss": loss.detach().reshape(1)})
        for n in PARAMS:
            st = opt.state[P[n]]
            t[s + "grad." + n] = grads[n]
            t[s + "adam_m." + n] = st["exp_avg"].clone()
            t[s + "adam_v." + n] = st["exp_avg_sq"].clone()
            t[s + "after." + n] = P[n].detach().clone()
        scalars[f"step{step}_loss"] = loss.item()
        if step == 1:
            scalars["adam_formula_max_abs_diff_step1"] = max(
                adam_check(before[n], grads[n], P[n].detach(), 1e-3, 1e-8) for n in PARAMS)
        scalars[f"step{step}_negative_kept_values"] = int((torch.gather(pre.detach(), 1, idx) < 0).sum())
    return t, scalars


def first_tie_free(fn, start):
    for seed in range(start, start + 1000):
        try:
            return seed, fn(seed)
        except NotTieFree:
            continue
    raise SystemExit("no tie-free seed found")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    seed_t, (topk_t, topk_s) = first_tie_free(run_topk, 100)
    seed_s, (sr_t, sr_s) = first_tie_free(run_seed_report, 200)
    for path, tensors, recipe in ((os.path.join(OUT, "topk.safetensors"), topk_t, "topk"),
                                  (os.path.join(OUT, "seed_report.safetensors"), sr_t, "seed-report")):
        safetensors_io.write(path, {k: v.numpy() for k, v in tensors.items()},
                             {"recipe": recipe, "computed": "float32 torch.autograd + torch.optim.Adam (torch " + torch.__version__ + ")"})
    params = {
        "description": "One topk step and two seed-report steps of a Top-K SAE; see tools/reference/sae_reference.py "
                       "and tools/reference/README.md. Layout W_enc [d_in,d_sae], b_enc [d_sae], W_dec [d_sae,d_in], "
                       "b_dec [d_in]. Computed in float32 in PyTorch.",
        "torch_version": torch.__version__,
        "topk": {"generator_seed": seed_t, "d_in": D_IN, "d_sae": D_SAE, "k": K, "batch": BATCH, "k_aux": topk_s["k_aux"],
                 "aux_coefficient": AUX_COEF, "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 6.25e-10,
                 "weight_decay": 0.0, "steps": 1, "relu": True, "subtract_b_dec": True,
                 "decoder_grad_projection": True, "decoder_renorm": True,
                 "dead_latents": topk_s["dead_latents"],
                 "loss": {"fvu": topk_s["fvu"], "aux": topk_s["aux"], "total": topk_s["total"]},
                 "check_adam_formula_max_abs_diff": topk_s["adam_formula_max_abs_diff"]},
        "seed-report": {"generator_seed": seed_s, "d_in": D_IN, "d_sae": D_SAE, "k": K, "batch": BATCH,
                        "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "steps": 2,
                        "relu": False, "subtract_b_dec": False, "decoder_grad_projection": False, "decoder_renorm": False,
                        "loss": {"step1": sr_s["step1_loss"], "step2": sr_s["step2_loss"]},
                        "negative_kept_values": {"step1": sr_s["step1_negative_kept_values"], "step2": sr_s["step2_negative_kept_values"]},
                        "check_adam_formula_max_abs_diff_step1": sr_s["adam_formula_max_abs_diff_step1"]},
        "tie_free_margin": MARGIN,
    }
    with open(os.path.join(OUT, "params.json"), "w") as f:
        json.dump(params, f, indent=2)
        f.write("\n")
    print(json.dumps({k: params[k] for k in ("topk", "seed-report")}, indent=1))
    for name in sorted(os.listdir(OUT)):
        print(f"  {name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
