"""Small SAE directories laid out as SAELens writes them, with the encodings SAELens computes for them, for the
TypeScript loader's tests (test/sae_saelens_files.test.ts).

Run:  /usr/bin/python3 tools/reference/sae_saelens_files.py     (writes test/fixtures/saelens_files/; deterministic)

Each case is a directory <case>/ with cfg.json and sae_weights.safetensors (random float32 weights, d_in 12,
d_sae 24), plus <case>/expected.safetensors: `x` [6, 12] raw inputs, `feature_acts` [6, 24] (what SAELens's
encode returns) and `sae_out` [6, 12] (decode(encode(x))). The cfg.json files follow SAELens's own writers, field
for field: `SAEConfig.to_dict` (6.x inference configs, and TrainingSAEConfig.to_dict for training checkpoints:
the training fields, metadata, architecture), and the pre-6 `SAEConfig.to_dict` of 5.x; `pre6_standard_jb` is the
shape of the configs of jbloom's gpt2-small-res-jb release (pre-5 runner config: hook_point, no architecture, no
activation_fn, dtype "torch.float32"). The expected encodings are computed here from SAELens's definitions:

  input normalisation (normalize_activations): none; constant_norm_rescale x·√d/‖x‖ (undone on the output);
    layer_norm (x − mean)/(std + 1e-5) with the unbiased std (undone on the output); expected_average_only_in: the
    factor is applied outside the SAE (activation_scaler.json), so x·s goes in and the output is divided by s.
  sae_in = x − b_dec·apply_b_dec_to_input.
  standard: ReLU(sae_in W_enc + b_enc).   topk: pre = sae_in W_enc + b_enc, times ‖W_dec_j‖ if
  rescale_acts_by_decoder_norm, then top-k and ReLU (a ReLU even when apply_b_dec_to_input is false); decode
  divides by ‖W_dec_j‖ again in that case.   jumprelu: ReLU(pre)·[pre > threshold].   gated: [sae_in W_enc +
  b_gate > 0]·ReLU(sae_in (W_enc·exp(r_mag)) + b_mag).   batchtopk (training checkpoint): saved for inference as a
  jumprelu with threshold = topk_threshold after folding the decoder norms, as SAELens's save_inference_model does.
  decode: acts W_dec + b_dec, then the output normalisation's inverse.
The inputs are tie-free (no pre-activation within 1e-4 of a threshold, the top-k cut, or 0).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "saelens_files")
D_IN, D_SAE, K, ROWS = 12, 24, 4, 6
MARGIN = 1e-4


class NotTieFree(Exception):
    pass


def v6_metadata(hook="blocks.3.hook_resid_pre", version="6.18.0"):
    return {"sae_lens_version": version, "sae_lens_training_version": version, "model_name": "gpt2",
            "hook_name": hook, "hook_head_index": None, "context_size": 128, "prepend_bos": True,
            "seqpos_slice": [None], "model_from_pretrained_kwargs": {"center_writing_weights": False}}


def v6_inference_cfg(arch, extra=None, **overrides):
    cfg = {"d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
           "normalize_activations": "none", "reshape_activations": "none", "metadata": v6_metadata()}
    cfg.update(extra or {})
    cfg.update(overrides)
    cfg["architecture"] = arch
    return cfg


def v6_training_cfg(arch, extra, **overrides):
    cfg = {"d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
           "normalize_activations": "none", "reshape_activations": "none", "metadata": v6_metadata(),
           "decoder_init_norm": 0.1}
    cfg.update(extra)
    cfg.update(overrides)
    cfg["architecture"] = arch
    return cfg


def pre6_cfg(arch, activation_fn, kwargs=None, **overrides):
    cfg = {"architecture": arch, "d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu", "model_name": "gpt2",
           "hook_name": "blocks.5.hook_resid_post", "hook_layer": 5, "hook_head_index": None,
           "activation_fn_str": activation_fn, "activation_fn_kwargs": kwargs or {}, "apply_b_dec_to_input": True,
           "finetuning_scaling_factor": False, "sae_lens_training_version": "5.10.7", "prepend_bos": True,
           "dataset_path": "monology/pile-uncopyrighted", "dataset_trust_remote_code": True, "context_size": 1024,
           "normalize_activations": "none", "neuronpedia_id": None, "model_from_pretrained_kwargs": {},
           "seqpos_slice": [None]}
    cfg.update(overrides)
    return cfg


def jb_cfg():
    """The runner-config shape of jbloom/GPT2-Small-SAEs-Reformatted (gpt2-small-res-jb): no architecture, no
    activation function, hook_point, torch dtype string."""
    return {"model_name": "gpt2-small", "hook_point": "blocks.2.hook_resid_pre", "hook_point_layer": 2,
            "hook_point_head_index": None, "dataset_path": "Skylion007/openwebtext", "is_dataset_tokenized": False,
            "context_size": 128, "use_cached_activations": False, "cached_activations_path": None, "d_in": D_IN,
            "n_batches_in_buffer": 128, "total_training_tokens": 300000000, "store_batch_size": 32, "device": "mps",
            "seed": 42, "dtype": "torch.float32", "b_dec_init_method": "geometric_median", "expansion_factor": 2,
            "from_pretrained_path": None, "l1_coefficient": 8e-05, "lr": 0.0004, "lr_scheduler_name": None,
            "lr_warm_up_steps": 5000, "train_batch_size": 4096, "use_ghost_grads": False,
            "feature_sampling_window": 1000, "feature_sampling_method": None, "resample_batches": 1028,
            "feature_reinit_scale": 0.2, "dead_feature_window": 5000, "dead_feature_estimation_method": "no_fire",
            "dead_feature_threshold": 1e-08, "log_to_wandb": True, "wandb_project": "mats_sae_training_gpt2",
            "wandb_entity": None, "wandb_log_frequency": 100, "n_checkpoints": 10, "checkpoint_path": "checkpoints/x",
            "d_sae": D_SAE, "tokens_per_buffer": 67108864, "run_name": "24-L1-8e-05-LR-0.0004-Tokens-3.000e+08"}


def normalise_in(x, mode, scale):
    if mode == "constant_norm_rescale":
        coeff = (D_IN ** 0.5) / x.norm(dim=-1, keepdim=True)
        return x * coeff, lambda y: y / coeff
    if mode == "layer_norm":
        mu = x.mean(dim=-1, keepdim=True)
        std = (x - mu).std(dim=-1, keepdim=True)
        return (x - mu) / (std + 1e-5), lambda y: y * std + mu
    if mode == "expected_average_only_in":
        return x * scale, lambda y: y / scale
    return x, lambda y: y


def check(values, boundary, what):
    if float((values.double() - boundary).abs().min()) < MARGIN:
        raise NotTieFree(what)


def encode(case, W, x):
    cfg = case["cfg"]
    arch = case["arch"]
    mode = cfg.get("normalize_activations", "none")
    xin, out = normalise_in(x, mode, case.get("scale", 1.0))
    apply = cfg.get("apply_b_dec_to_input", True)
    sae_in = xin - W["b_dec"] * apply
    if arch == "gated":
        gate = sae_in @ W["W_enc"] + W["b_gate"]
        mag = sae_in @ (W["W_enc"] * W["r_mag"].exp()) + W["b_mag"]
        check(gate, 0.0, "gate")
        check(mag, 0.0, "mag")
        acts = (gate > 0).to(x) * torch.relu(mag)
        return acts, out(acts @ W["W_dec"] + W["b_dec"])
    pre = sae_in @ W["W_enc"] + W["b_enc"]
    norms = W["W_dec"].norm(dim=-1)
    if arch in ("topk", "batchtopk") and cfg.get("rescale_acts_by_decoder_norm", False):
        pre = pre * norms
    check(pre, 0.0, "relu kink")
    if arch == "standard":
        acts = torch.relu(pre)
    elif arch == "topk":
        s = torch.sort(pre.double(), dim=1, descending=True).values
        if float((s[:, K - 1] - s[:, K]).min()) < MARGIN:
            raise NotTieFree("topk cut")
        vals, idx = torch.topk(pre, K, dim=-1)
        acts = torch.zeros_like(pre).scatter(-1, idx, torch.relu(vals))
    else:  # jumprelu, and batchtopk read as its inference form
        theta = W["threshold"] if arch == "jumprelu" else W["topk_threshold"].to(torch.float32)
        check(pre, theta, "threshold")
        acts = torch.relu(pre) * (pre > theta).to(pre)
    dec_acts = acts / norms if arch in ("topk", "batchtopk") and cfg.get("rescale_acts_by_decoder_norm", False) else acts
    return acts, out(dec_acts @ W["W_dec"] + W["b_dec"])


def weights(g, arch):
    W = {"W_enc": 0.5 * torch.randn(D_IN, D_SAE, generator=g), "W_dec": torch.randn(D_SAE, D_IN, generator=g) * (0.5 + torch.rand(D_SAE, 1, generator=g)),
         "b_dec": 0.3 * torch.randn(D_IN, generator=g)}
    if arch == "gated":
        W.update({"b_gate": 0.2 * torch.randn(D_SAE, generator=g), "r_mag": 0.3 * torch.randn(D_SAE, generator=g), "b_mag": 0.2 * torch.randn(D_SAE, generator=g)})
    else:
        W["b_enc"] = 0.2 * torch.randn(D_SAE, generator=g)
    if arch == "jumprelu":
        W["threshold"] = 0.2 + 0.6 * torch.rand(D_SAE, generator=g)
    if arch == "batchtopk":
        W["topk_threshold"] = torch.tensor(0.5, dtype=torch.float64)
    return W


CASES = {
    # SAELens 6.18 TopKSAE written for inference (fold done, rescale false), apply_b_dec_to_input false: still a ReLU.
    "v6_topk_no_bdec": {"arch": "topk", "cfg": v6_inference_cfg("topk", {"k": K, "rescale_acts_by_decoder_norm": False}, apply_b_dec_to_input=False)},
    # A SAELens 6.18 TopK training checkpoint: rescale by decoder norms, constant_norm_rescale.
    "v6_topk_training": {"arch": "topk", "cfg": v6_training_cfg("topk", {"k": K, "use_sparse_activations": False, "aux_loss_coefficient": 1.0, "rescale_acts_by_decoder_norm": True}, normalize_activations="constant_norm_rescale")},
    "v6_standard_layer_norm": {"arch": "standard", "cfg": v6_inference_cfg("standard", normalize_activations="layer_norm")},
    "v6_jumprelu": {"arch": "jumprelu", "cfg": v6_inference_cfg("jumprelu")},
    "v6_gated": {"arch": "gated", "cfg": v6_inference_cfg("gated")},
    # A SAELens 6.18 BatchTopK training checkpoint (scaling factor kept in activation_scaler.json beside it).
    "v6_batchtopk_training": {"arch": "batchtopk", "scale": 0.37, "cfg": v6_training_cfg("batchtopk", {"k": float(K), "use_sparse_activations": False, "aux_loss_coefficient": 1.0, "rescale_acts_by_decoder_norm": True, "topk_threshold_lr": 0.01}, normalize_activations="expected_average_only_in")},
    "v6_0_topk": {"arch": "topk", "cfg": dict(v6_inference_cfg("topk", {"k": K}), metadata=v6_metadata(hook="blocks.1.hook_resid_post", version="6.0.0"))},
    # SAELens 5.x configs: TopK as architecture "standard" with activation_fn_str topk, and a plain standard one.
    "pre6_topk_as_standard": {"arch": "topk", "cfg": pre6_cfg("standard", "topk", {"k": K})},
    "pre6_jumprelu": {"arch": "jumprelu", "cfg": pre6_cfg("jumprelu", "relu")},
    "pre6_standard_jb": {"arch": "standard", "cfg": jb_cfg()},
}


def scalar_shapes(path, names):
    """safetensors_io stores 0-d arrays with shape [1]; SAELens (torch) stores them with shape []. Rewrite the
    header in place (same length, space-padded)."""
    with open(path, "r+b") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n).decode("utf-8"))
        for name in names:
            header[name]["shape"] = []
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        f.seek(8)
        f.write(text + b" " * (n - len(text)))


def make(name, case, seed):
    g = torch.Generator().manual_seed(seed)
    W = weights(g, case["arch"])
    x = 2.0 * torch.randn(ROWS, D_IN, generator=g) + 0.5
    acts, out = encode(case, W, x)
    if int((acts > 0).sum()) < ROWS:
        raise NotTieFree("too few active latents")
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    tensors = {k: v.numpy() for k, v in W.items()}
    path = os.path.join(d, "sae_weights.safetensors")
    safetensors_io.write(path, tensors, None)
    if any(v.dim() == 0 for v in W.values()):
        scalar_shapes(path, [k for k, v in W.items() if v.dim() == 0])
    with open(os.path.join(d, "cfg.json"), "w") as f:
        json.dump(case["cfg"], f)
    if "scale" in case:
        with open(os.path.join(d, "activation_scaler.json"), "w") as f:
            json.dump({"scaling_factor": case["scale"]}, f)
    safetensors_io.write(os.path.join(d, "expected.safetensors"), {"x": x.numpy(), "feature_acts": acts.numpy(), "sae_out": out.numpy()}, None)
    return int((acts > 0).sum())


def main():
    torch.set_num_threads(1)
    for i, (name, case) in enumerate(CASES.items()):
        for seed in range(100 * i, 100 * i + 100):
            try:
                active = make(name, case, seed)
                break
            except NotTieFree:
                continue
        else:
            raise SystemExit(f"{name}: no tie-free seed")
        print(f"{name}: seed {seed}, {active} active entries")


if __name__ == "__main__":
    main()
