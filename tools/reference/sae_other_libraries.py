"""SAE files laid out exactly as EleutherAI sparsify and saprmarks/dictionary_learning write them, with the
activations and reconstructions each library's own forward computes, for test/sae_other_libraries.test.ts.

Run:  /usr/bin/python3 tools/reference/sae_other_libraries.py     (writes test/fixtures/other_libraries/)

Neither library is installed here (pip cannot reach PyPI), so this script follows their code as read at the
commits the issue names — sparsify 9d3b136, dictionary_learning 60ec6bf — restating what they save and compute:

sparsify  SparseCoder.save_to_disk: safetensors.torch.save_model(module) → sae.safetensors holding the module's
          parameters encoder.weight [n, d], encoder.bias [n], W_dec [n, d], b_dec [d] (metadata {"format": "pt"}),
          and cfg.json = {**SparseCoderConfig.to_dict(), "d_in": d} (fields in the dataclass's order). A
          repository is one such folder per hookpoint, with the run's config.json at the top.
          Forward: pre = relu(encoder(x − b_dec)); top-k of pre (values, indices); x̂ = Σ acts·W_dec[idx] + b_dec.
dictionary_learning  training.py: config.json = {"trainer": trainer.config, "buffer": buffer.config} (indent 4),
          ae.pt = torch.save({k: v.cpu() for k, v in ae.state_dict().items()}) — a plain dict, in the order the
          class registers its parameters and buffers. Forwards, per class (dictionary.py, trainers/*.py):
            AutoEncoder             f = relu(encoder(x − bias)); x̂ = decoder(f) + bias; load_dictionary's
                                    from_pretrained(normalize_decoder=True) first rescales to unit decoder columns.
            AutoEncoderNew          f = relu(encoder(x)); x̂ = decoder(f) (decoder has a bias).
            GatedAutoEncoder        h = encoder(x − decoder_bias); f = [h + gate_bias > 0]·relu(exp(r_mag)·h + mag_bias).
            JumpReluAutoEncoder     pre = x @ W_enc + b_enc (no b_dec subtraction); f = relu(pre·[pre > threshold]).
            AutoEncoderTopK         f = scatter(topk(relu(encoder(x − b_dec)), k)); x̂ = decoder(f) + b_dec.
            BatchTopKSAE            f = r·[r > threshold] with r = relu(encoder(x − b_dec)) (encode's default).
            MatryoshkaBatchTopKSAE  the same with W_enc/b_enc/W_dec parameters, every group active.
Each case directory holds the library's files plus expected.safetensors: x [6, 12], feature_acts [6, 24] (dense),
sae_out [6, 12]. Inputs are tie-free (no pre-activation within 1e-4 of a threshold, the top-k cut, or 0).
"""
import collections
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "other_libraries")
D, N, K, ROWS = 12, 24, 4, 6
MARGIN = 1e-4


class NotTieFree(Exception):
    pass


def away(values, boundary, what):
    if float((values.double() - boundary).abs().min()) < MARGIN:
        raise NotTieFree(what)


def topk_dense(r, k):
    s = torch.sort(r.double(), dim=1, descending=True).values
    if float((s[:, k - 1] - s[:, k]).min()) < MARGIN:
        raise NotTieFree("topk cut")
    vals, idx = torch.topk(r, k, dim=-1)
    return torch.zeros_like(r).scatter(-1, idx, vals)


# ---- sparsify -------------------------------------------------------------------------------------------------

def sparsify_cfg(k, num_latents=0, expansion_factor=32):
    # SparseCoderConfig field order: activation, expansion_factor, normalize_decoder, num_latents, k, multi_topk,
    # skip_connection, transcode; save_to_disk appends d_in.
    return {"activation": "topk", "expansion_factor": expansion_factor, "normalize_decoder": True, "num_latents": num_latents,
            "k": k, "multi_topk": False, "skip_connection": False, "transcode": False, "d_in": D}


def sparsify_case(g, folder, cfg):
    n = cfg["num_latents"] or D * cfg["expansion_factor"]
    W = collections.OrderedDict()
    W["encoder.weight"] = 0.5 * torch.randn(n, D, generator=g)
    W["encoder.bias"] = 0.2 * torch.randn(n, generator=g)
    W["W_dec"] = torch.randn(n, D, generator=g)
    W["W_dec"] /= W["W_dec"].norm(dim=1, keepdim=True)  # normalize_decoder keeps unit rows
    W["b_dec"] = 0.3 * torch.randn(D, generator=g)
    x = 2.0 * torch.randn(ROWS, D, generator=g) + 0.5
    pre_lin = (x - W["b_dec"]) @ W["encoder.weight"].T + W["encoder.bias"]
    away(pre_lin, 0.0, "relu kink")
    pre = torch.relu(pre_lin)
    acts = topk_dense(pre, cfg["k"])
    out = acts @ W["W_dec"] + W["b_dec"]
    os.makedirs(folder, exist_ok=True)
    safetensors_io.write(os.path.join(folder, "sae.safetensors"), {k: v.numpy() for k, v in W.items()}, {"format": "pt"})
    with open(os.path.join(folder, "cfg.json"), "w") as f:
        json.dump(cfg, f)
    safetensors_io.write(os.path.join(folder, "expected.safetensors"), {"x": x.numpy(), "feature_acts": acts.numpy(), "sae_out": out.numpy()}, None)


# ---- dictionary_learning --------------------------------------------------------------------------------------

def linear_weights(g, norms=True):
    dec = torch.randn(D, N, generator=g)
    if norms:
        dec = dec * (0.5 + torch.rand(1, N, generator=g))  # columns of various norms (AutoEncoder, April update)
    else:
        dec = dec / dec.norm(dim=0, keepdim=True)
    enc = 0.5 * torch.randn(N, D, generator=g)
    return enc, dec


def dl_case(g, cls):
    sd = collections.OrderedDict()
    k = K
    if cls == "AutoEncoder":
        enc, dec = linear_weights(g)
        sd["bias"] = 0.3 * torch.randn(D, generator=g)
        sd["encoder.weight"], sd["encoder.bias"], sd["decoder.weight"] = enc, 0.2 * torch.randn(N, generator=g), dec
    elif cls == "AutoEncoderNew":
        enc, dec = linear_weights(g)
        sd["encoder.weight"], sd["encoder.bias"] = enc, 0.2 * torch.randn(N, generator=g)
        sd["decoder.weight"], sd["decoder.bias"] = dec, 0.3 * torch.randn(D, generator=g)
    elif cls == "GatedAutoEncoder":
        enc, dec = linear_weights(g, norms=False)
        sd["decoder_bias"] = 0.3 * torch.randn(D, generator=g)
        sd["encoder.weight"] = enc
        sd["r_mag"], sd["gate_bias"], sd["mag_bias"] = 0.3 * torch.randn(N, generator=g), 0.2 * torch.randn(N, generator=g), 0.2 * torch.randn(N, generator=g)
        sd["decoder.weight"] = dec
    elif cls == "JumpReluAutoEncoder":
        sd["W_enc"] = 0.5 * torch.randn(D, N, generator=g)
        sd["b_enc"] = 0.2 * torch.randn(N, generator=g)
        sd["W_dec"] = torch.randn(N, D, generator=g)
        sd["b_dec"] = 0.3 * torch.randn(D, generator=g)
        sd["threshold"] = 0.2 + 0.6 * torch.rand(N, generator=g)
    elif cls in ("AutoEncoderTopK", "BatchTopKSAE"):
        enc, dec = linear_weights(g, norms=False)
        sd["k"] = torch.tensor(k, dtype=torch.int)
        sd["threshold"] = torch.tensor(0.5 if cls == "BatchTopKSAE" else -1.0, dtype=torch.float32)
        sd["decoder.weight"], sd["encoder.weight"], sd["encoder.bias"] = dec, enc, 0.2 * torch.randn(N, generator=g)
        sd["b_dec"] = 0.3 * torch.randn(D, generator=g)
    elif cls == "MatryoshkaBatchTopKSAE":
        sd["k"] = torch.tensor(k, dtype=torch.int)
        sd["threshold"] = torch.tensor(0.5, dtype=torch.float32)
        sd["group_sizes"] = torch.tensor([4, 8, 12])
        sd["W_enc"] = 0.5 * torch.randn(D, N, generator=g)
        sd["b_enc"] = 0.2 * torch.randn(N, generator=g)
        dec = torch.randn(N, D, generator=g)
        sd["W_dec"] = dec / dec.norm(dim=1, keepdim=True)
        sd["b_dec"] = 0.3 * torch.randn(D, generator=g)
    x = 2.0 * torch.randn(ROWS, D, generator=g) + 0.5
    W = sd
    if cls == "AutoEncoder":
        # load_dictionary → AutoEncoder.from_pretrained(normalize_decoder=True): unit decoder columns.
        norms = W["decoder.weight"].norm(dim=0)
        W = dict(W)
        W["decoder.weight"] = W["decoder.weight"] / norms
        W["encoder.weight"] = W["encoder.weight"] * norms[:, None]
        W["encoder.bias"] = W["encoder.bias"] * norms
        pre = (x - W["bias"]) @ W["encoder.weight"].T + W["encoder.bias"]
        away(pre, 0.0, "relu kink")
        acts = torch.relu(pre)
        out = acts @ W["decoder.weight"].T + W["bias"]
    elif cls == "AutoEncoderNew":
        pre = x @ W["encoder.weight"].T + W["encoder.bias"]
        away(pre, 0.0, "relu kink")
        acts = torch.relu(pre)
        out = acts @ W["decoder.weight"].T + W["decoder.bias"]
    elif cls == "GatedAutoEncoder":
        h = (x - W["decoder_bias"]) @ W["encoder.weight"].T
        gate = h + W["gate_bias"]
        mag = W["r_mag"].exp() * h + W["mag_bias"]
        away(gate, 0.0, "gate")
        away(mag, 0.0, "magnitude")
        acts = (gate > 0).to(x) * torch.relu(mag)
        out = acts @ W["decoder.weight"].T + W["decoder_bias"]
    elif cls == "JumpReluAutoEncoder":
        pre = x @ W["W_enc"] + W["b_enc"]
        away(pre, W["threshold"], "threshold")
        away(pre, 0.0, "relu kink")
        acts = torch.relu(pre * (pre > W["threshold"]))
        out = acts @ W["W_dec"] + W["b_dec"]
    elif cls == "AutoEncoderTopK":
        r = torch.relu((x - W["b_dec"]) @ W["encoder.weight"].T + W["encoder.bias"])
        away((x - W["b_dec"]) @ W["encoder.weight"].T + W["encoder.bias"], 0.0, "relu kink")
        acts = topk_dense(r, k)
        out = acts @ W["decoder.weight"].T + W["b_dec"]
    elif cls == "BatchTopKSAE":
        lin = (x - W["b_dec"]) @ W["encoder.weight"].T + W["encoder.bias"]
        away(lin, 0.0, "relu kink")
        away(lin, W["threshold"], "threshold")
        r = torch.relu(lin)
        acts = r * (r > W["threshold"])
        out = acts @ W["decoder.weight"].T + W["b_dec"]
    else:
        lin = (x - W["b_dec"]) @ W["W_enc"] + W["b_enc"]
        away(lin, 0.0, "relu kink")
        away(lin, W["threshold"], "threshold")
        r = torch.relu(lin)
        acts = r * (r > W["threshold"])
        out = acts @ W["W_dec"] + W["b_dec"]
    if int((acts > 0).sum()) < ROWS:
        raise NotTieFree("too few active latents")
    return sd, x, acts, out


def dl_config(cls, trainer, extra):
    config = {"dict_class": cls, "trainer_class": trainer, "activation_dim": D, "dict_size": N, "lr": 0.0003, "steps": 1000,
              "seed": 0, "device": "cuda:0", "layer": 3, "lm_name": "EleutherAI/pythia-70m-deduped", "wandb_name": f"{trainer}-pythia70m-3",
              "submodule_name": "resid_post_layer_3"}
    config.update(extra)
    return {"trainer": config, "buffer": {"d_submodule": D, "io": "out", "n_ctxs": 2000, "ctx_len": 128, "refresh_batch_size": 24, "out_batch_size": 4096, "device": "cuda:0"}}


DL_CASES = {
    "dl_standard_april": ("AutoEncoder", "StandardTrainerAprilUpdate", {"l1_penalty": 0.04, "warmup_steps": 100, "sparsity_warmup_steps": 200, "decay_start": 800}),
    "dl_autoencoder_new": ("AutoEncoderNew", "StandardTrainerNew", {"l1_penalty": 0.1}),
    "dl_gated": ("GatedAutoEncoder", "GatedSAETrainer", {"l1_penalty": 0.1, "warmup_steps": 100}),
    "dl_jumprelu": ("JumpReluAutoEncoder", "JumpReluTrainer", {"bandwidth": 0.001, "sparsity_penalty": 1.0, "target_l0": 20.0}),
    "dl_topk": ("AutoEncoderTopK", "TopKTrainer", {"k": K, "auxk_alpha": 1 / 32, "threshold_beta": 0.999, "threshold_start_step": 1000}),
    "dl_batchtopk": ("BatchTopKSAE", "BatchTopKTrainer", {"k": K, "auxk_alpha": 1 / 32, "threshold_beta": 0.999, "threshold_start_step": 1000}),
    "dl_matryoshka": ("MatryoshkaBatchTopKSAE", "MatryoshkaBatchTopKTrainer", {"k": K, "group_fractions": [1 / 6, 1 / 3, 1 / 2], "group_weights": None}),
}


def with_retries(name, seed0, fn):
    for seed in range(seed0, seed0 + 200):
        try:
            return seed, fn(torch.Generator().manual_seed(seed))
        except NotTieFree:
            continue
    raise SystemExit(f"{name}: no tie-free seed")


def main():
    torch.set_num_threads(1)
    repo = os.path.join(OUT, "sparsify_repo")
    os.makedirs(repo, exist_ok=True)
    with open(os.path.join(repo, "config.json"), "w") as f:
        json.dump({"sae": sparsify_cfg(K, num_latents=N), "batch_size": 8, "hookpoints": ["layers.3", "layers.5.mlp"], "model": "EleutherAI/pythia-160m",
                   "dataset": "EleutherAI/fineweb-edu-dedup-10b", "ctx_len": 2048, "init_seeds": [0]}, f)
    s, _ = with_retries("layers.3", 0, lambda g: sparsify_case(g, os.path.join(repo, "layers.3"), sparsify_cfg(K, num_latents=N)))
    print(f"sparsify layers.3: seed {s}")
    # expansion_factor instead of num_latents (d_sae = 2·d_in = 24).
    s, _ = with_retries("layers.5.mlp", 300, lambda g: sparsify_case(g, os.path.join(repo, "layers.5.mlp"), sparsify_cfg(K, num_latents=0, expansion_factor=2)))
    print(f"sparsify layers.5.mlp: seed {s}")
    for i, (name, (cls, trainer, extra)) in enumerate(DL_CASES.items()):
        s, (sd, x, acts, out) = with_retries(name, 1000 + 300 * i, lambda g: dl_case(g, cls))
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        torch.save({k: v.cpu() for k, v in sd.items()}, os.path.join(d, "ae.pt"))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(dl_config(cls, trainer, extra), f, indent=4)
        safetensors_io.write(os.path.join(d, "expected.safetensors"), {"x": x.numpy(), "feature_acts": acts.numpy(), "sae_out": out.numpy()}, None)
        print(f"{name}: seed {s}, {int((acts > 0).sum())} active entries")


if __name__ == "__main__":
    main()
