"""Reference numerics for the decoder-only model families (GPT-NeoX/Pythia, Llama, Gemma-2) from Hugging Face's
own modeling code, run under Debian's PyTorch: the fixtures of test/decoder_families.test.ts.

Run (Debian's PyTorch; `transformers` is not installed, its modeling files are read from a git mirror):
  /usr/bin/python3 tools/reference/hf_decoder_reference.py --transformers /work/.mirror/8b-is+transformers/repo
      writes test/fixtures/decoder_families/<case>/ for every case below and test/fixtures/decoder_families/summary.json

The transformers source is a git directory (a fork that carries the upstream release tags; no work tree needed).
This script reads, at the pinned commit of release v4.46.3, exactly these files and imports them as the package
`transformers` from a temporary directory:
  activations.py, modeling_rope_utils.py, modeling_attn_mask_utils.py,
  models/{gpt_neox,llama,gemma2}/{configuration,modeling}_*.py
Everything else they import (configuration_utils, modeling_utils, cache_utils, generation, utils, …, and the
third-party `packaging`) is replaced by the small stubs in STUBS below: a plain attribute-bag PretrainedConfig, a
PreTrainedModel that is an nn.Module which ties the output embedding to the input embedding when
`tie_word_embeddings` is set (as HF's post_init does), no-op docstring decorators, and cache classes that are never
instantiated (every forward runs with use_cache=False). No HF code is copied into this repository.

Every case is run with attn_implementation "eager" (the reference path; SDPA and flash attention are optimisations
of it), in float64 (`model.double()`): the weights are float32 (or BF16) values upcast exactly. HF computes some
parts in float32 even inside a float64 module, and the reference keeps that (it is HF's own behaviour):
  * rotary tables: inv_freq is built in float32 and cos/sin are computed in float32 under autocast(False);
  * Llama/Gemma-2 RMSNorm: the input is cast to float32, normalised, and cast back;
  * the eager Llama/Gemma-2 softmax is taken with dtype=torch.float32.
The TypeScript forward computes all three in float64 (it is the more exact choice, and it makes the rotary table
independent of float32 rounding at long positions); summary.json records, per case, how far HF's float32 run is
from its float64 run, which bounds what these float32 islands can contribute (well under the tests' 1e-4).

Hooks are read from HF's own modules with forward hooks, under TransformerLens names:
  hook_embed                   the embedding lookup (Gemma-2: times sqrt(d), as TransformerLens folds it into W_E)
  blocks.L.hook_resid_pre      the input of decoder layer L
  blocks.L.hook_attn_out       what the attention adds to the residual (Gemma-2: after post_attention_layernorm)
  blocks.L.hook_resid_mid      the residual between attention and MLP (absent for GPT-NeoX's parallel residual)
  blocks.L.hook_mlp_out        what the MLP adds (Gemma-2: after post_feedforward_layernorm)
  blocks.L.hook_resid_post     the output of decoder layer L
  ln_final.hook_normalized     the output of the final norm
  logits                       the model's logits (Gemma-2: after final_logit_softcapping)
  blocks.L.hook_resid_pre_centered (LayerNorm families only): resid_pre minus its mean over d_model

Weights: seeded (numpy default_rng, one seed per case), in the exact HF checkpoint layout (key names, shapes,
[out, in] nn.Linear orientation, fused NeoX query_key_value interleaved per head), drawn so that activations are of
order 1 and attention is far from uniform: matrices N(0, 1/fan_in), embeddings N(0, 1), biases N(0, 0.1²),
LayerNorm/RMSNorm gains 1 + N(0, 0.1²), Gemma-2 norm weights N(0, 0.1²) (it multiplies by 1 + w). GPT-NeoX files
also carry the buffers old Pythia checkpoints have (attention.bias as BOOL/U8 [1,1,P,P], attention.masked_bias,
rotary_emb.inv_freq), which a loader must skip.

Inputs: batch 2 × 10 tokens; the second row is right-padded after 7 tokens (attention_mask 0, pad id 0). With the
Gemma-2 window of 4 every padded query still sees a real key (a query whose window holds only padding is
degenerate in HF: its masked scores are finfo.min rather than -inf, and its output is meaningless).

Per case directory:
  config.json             the HF config as the hub has it (model_type, architectures, torch_dtype)
  model.safetensors       F32 weights (+ buffers for GPT-NeoX)
  model_bf16.safetensors  the same weights rounded to BF16 (round to nearest even)
  inputs.safetensors      tokens, attention_mask (I32 [2, 10])
  outputs.safetensors     every hook above + logits, float64 HF results cast to float32 (F32 weights)
  outputs_bf16.safetensors the same from the BF16 weights (logits, resid_post of every layer, ln_final)
"""
import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "decoder_families")
PINNED_TAG = "v4.46.3"
PINNED_COMMIT = "052e652d6d53c2b26ffde87e039b723949a53493"
REAL_FILES = [
    "activations.py", "modeling_rope_utils.py", "modeling_attn_mask_utils.py",
    "models/gpt_neox/configuration_gpt_neox.py", "models/gpt_neox/modeling_gpt_neox.py",
    "models/llama/configuration_llama.py", "models/llama/modeling_llama.py",
    "models/gemma2/configuration_gemma2.py", "models/gemma2/modeling_gemma2.py",
]

# Stand-ins for the parts of transformers (and `packaging`) the modeling files import but do not need here.
STUBS = {
    "__init__.py": "",
    "models/__init__.py": "",
    "models/gpt_neox/__init__.py": "",
    "models/llama/__init__.py": "",
    "models/gemma2/__init__.py": "",
    "utils/__init__.py": '''
import logging as _logging
import torch as _torch

class _Logger:
    def __init__(self, name): self._l = _logging.getLogger(name)
    def warning_once(self, *a, **k): pass
    def warning(self, *a, **k): pass
    def info(self, *a, **k): pass
    def debug(self, *a, **k): pass

class logging:
    @staticmethod
    def get_logger(name): return _Logger(name)

def _passthrough(*a, **k):
    return lambda f: f

add_start_docstrings = add_start_docstrings_to_model_forward = replace_return_docstrings = add_code_sample_docstrings = _passthrough
def is_flash_attn_2_available(): return False
def is_flash_attn_greater_or_equal_2_10(): return False
def is_flash_attn_greater_or_equal(*a, **k): return False
def is_torch_available(): return True
def is_torchdynamo_compiling(): return False
def get_torch_version(): return _torch.__version__
''',
    "utils/import_utils.py": "def is_torchdynamo_compiling(): return False\n",
    "file_utils.py": "from .utils import add_start_docstrings, add_start_docstrings_to_model_forward, replace_return_docstrings, add_code_sample_docstrings\n",
    "configuration_utils.py": '''
class PretrainedConfig:
    model_type = ""
    def __init__(self, **kwargs):
        self.output_attentions = False
        self.output_hidden_states = False
        self.return_dict = True
        self.torchscript = False
        self.tie_word_embeddings = kwargs.pop("tie_word_embeddings", True)
        self.pruned_heads = {}
        self._attn_implementation = kwargs.pop("attn_implementation", "eager")
        for k, v in kwargs.items():
            setattr(self, k, v)
    @property
    def use_return_dict(self): return self.return_dict
''',
    "modeling_utils.py": '''
import torch
from torch import nn

class PreTrainedModel(nn.Module):
    def __init__(self, config, *args, **kwargs):
        super().__init__()
        self.config = config
    def get_input_embeddings(self):
        return getattr(self, self.base_model_prefix).get_input_embeddings()
    def post_init(self):
        if getattr(self.config, "tie_word_embeddings", False) and hasattr(self, "get_output_embeddings"):
            out, inp = self.get_output_embeddings(), self.get_input_embeddings()
            if out is not None and inp is not None:
                out.weight = inp.weight
    def get_head_mask(self, head_mask, num_hidden_layers, is_attention_chunked=False):
        return [None] * num_hidden_layers
    def warn_if_padding_and_no_attention_mask(self, *a, **k): pass
    @property
    def device(self): return next(self.parameters()).device
    @property
    def dtype(self): return next(self.parameters()).dtype
''',
    "modeling_outputs.py": '''
from collections import OrderedDict

class ModelOutput(OrderedDict):
    def __init__(self, **kwargs):
        super().__init__()
        for k, v in kwargs.items():
            if v is not None:
                self[k] = v
    def __getattr__(self, name):
        return self.get(name)
    def __getitem__(self, k):
        if isinstance(k, (int, slice)):
            return tuple(self.values())[k]
        return super().__getitem__(k)

BaseModelOutputWithPast = CausalLMOutputWithPast = QuestionAnsweringModelOutput = ModelOutput
SequenceClassifierOutputWithPast = TokenClassifierOutput = ModelOutput
''',
    "cache_utils.py": '''
class Cache: pass
class DynamicCache(Cache): pass
class StaticCache(Cache): pass
class HybridCache(Cache): pass
''',
    "generation.py": "class GenerationMixin: pass\n",
    "modeling_flash_attention_utils.py": "_flash_attention_forward = None\n",
    "pytorch_utils.py": "ALL_LAYERNORM_LAYERS = []\n",
}
PACKAGING_STUB = '''
import re
class _V(tuple):
    pass
def parse(s):
    return _V(int(x) for x in re.match(r"(\\d+(?:\\.\\d+)*)", str(s)).group(1).split("."))
'''


def import_transformers(mirror, commit):
    """Materialise the pinned HF files plus the stubs in a temp dir and import them as `transformers`."""
    root = tempfile.mkdtemp(prefix="hf-ref-")
    pkg = os.path.join(root, "transformers")
    for rel, text in STUBS.items():
        os.makedirs(os.path.dirname(os.path.join(pkg, rel)), exist_ok=True)
        with open(os.path.join(pkg, rel), "w") as f:
            f.write(text)
    for rel in REAL_FILES:
        text = subprocess.run(["git", "--git-dir", mirror, "show", f"{commit}:src/transformers/{rel}"],
                              check=True, capture_output=True).stdout
        with open(os.path.join(pkg, rel), "wb") as f:
            f.write(text)
    os.makedirs(os.path.join(root, "packaging"), exist_ok=True)
    with open(os.path.join(root, "packaging", "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(root, "packaging", "version.py"), "w") as f:
        f.write(PACKAGING_STUB)
    sys.path.insert(0, root)
    mods = {
        "gpt_neox": importlib.import_module("transformers.models.gpt_neox.modeling_gpt_neox"),
        "llama": importlib.import_module("transformers.models.llama.modeling_llama"),
        "gemma2": importlib.import_module("transformers.models.gemma2.modeling_gemma2"),
    }
    cfgs = {
        "gpt_neox": importlib.import_module("transformers.models.gpt_neox.configuration_gpt_neox").GPTNeoXConfig,
        "llama": importlib.import_module("transformers.models.llama.configuration_llama").LlamaConfig,
        "gemma2": importlib.import_module("transformers.models.gemma2.configuration_gemma2").Gemma2Config,
    }
    return mods, cfgs


# ── cases ───────────────────────────────────────────────────────────────────────────────────────────────────────
VOCAB = 96
CASES = {
    # Pythia's layout: parallel residual, rotary on a quarter of each head, biases everywhere, untied embed_out.
    "pythia_parallel": dict(family="gpt_neox", seed=1, config=dict(
        architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox", vocab_size=VOCAB, hidden_size=32,
        num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, hidden_act="gelu", rotary_pct=0.25,
        rotary_emb_base=10000, max_position_embeddings=16, layer_norm_eps=1e-5, use_parallel_residual=True,
        tie_word_embeddings=False, attention_bias=True, bos_token_id=0, eos_token_id=0)),
    # The sequential residual form, half the head rotated, another base, tied embeddings.
    "neox_sequential_tied": dict(family="gpt_neox", seed=2, config=dict(
        architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox", vocab_size=VOCAB, hidden_size=32,
        num_hidden_layers=2, num_attention_heads=2, intermediate_size=80, hidden_act="gelu", rotary_pct=0.5,
        rotary_emb_base=500, max_position_embeddings=16, layer_norm_eps=1e-5, use_parallel_residual=False,
        tie_word_embeddings=True, attention_bias=True, bos_token_id=0, eos_token_id=0)),
    # Grouped-query attention (4 query heads share 2 key/value heads), untied head, no rope scaling.
    "llama_gqa": dict(family="llama", seed=3, config=dict(
        architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=VOCAB, hidden_size=32,
        intermediate_size=72, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        hidden_act="silu", max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
        rope_scaling=None, attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2, pretraining_tp=1)),
    # Llama-3.x: rope_type llama3 (original context 16, so the table has high, medium and low frequencies), one
    # key/value head, head_dim independent of d/heads, tied embeddings, and the optional biases switched on.
    "llama3_tied": dict(family="llama", seed=4, config=dict(
        architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=VOCAB, hidden_size=32,
        intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=16,
        hidden_act="silu", max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 16},
        attention_bias=True, mlp_bias=True, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
        pretraining_tp=1)),
    # Gemma-2: window 4 < the 10-token sequence on layers 0 and 2, soft-capping small enough to bite, head_dim 16
    # (≠ d/heads = 8), query_pre_attn_scalar 24 (≠ head_dim), GQA, tied embeddings (no lm_head key).
    "gemma2_window": dict(family="gemma2", seed=5, config=dict(
        architectures=["Gemma2ForCausalLM"], model_type="gemma2", vocab_size=VOCAB, hidden_size=32,
        intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        hidden_act="gelu_pytorch_tanh", hidden_activation="gelu_pytorch_tanh", max_position_embeddings=64,
        rms_norm_eps=1e-6, rope_theta=10000.0, attention_bias=False, query_pre_attn_scalar=24,
        sliding_window=4, final_logit_softcapping=3.0, attn_logit_softcapping=2.0, pad_token_id=0,
        bos_token_id=2, eos_token_id=1)),
    # Gemma-2 with soft-capping off (null), a window longer than the sequence, and plain multi-head attention.
    "gemma2_nocap": dict(family="gemma2", seed=6, config=dict(
        architectures=["Gemma2ForCausalLM"], model_type="gemma2", vocab_size=VOCAB, hidden_size=32,
        intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, head_dim=8,
        hidden_act="gelu_pytorch_tanh", hidden_activation="gelu_pytorch_tanh", max_position_embeddings=64,
        rms_norm_eps=1e-6, rope_theta=10000.0, attention_bias=False, query_pre_attn_scalar=8,
        sliding_window=4096, final_logit_softcapping=None, attn_logit_softcapping=None, pad_token_id=0,
        bos_token_id=2, eos_token_id=1)),
}
SEQ, REAL_ROW2 = 10, 7


def random_weights(family, c, rng):
    """Seeded parameters in the HF checkpoint layout (float32)."""
    d, V, L = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"]
    lin = lambda out, inp: rng.normal(0.0, 1.0 / math.sqrt(inp), (out, inp))  # noqa: E731
    bias = lambda n: rng.normal(0.0, 0.1, n)  # noqa: E731
    gain = lambda: 1.0 + rng.normal(0.0, 0.1, d)  # noqa: E731
    p = {}
    if family == "gpt_neox":
        f = c["intermediate_size"]
        p["gpt_neox.embed_in.weight"] = rng.normal(0.0, 1.0, (V, d))
        for i in range(L):
            s = f"gpt_neox.layers.{i}."
            p[s + "input_layernorm.weight"], p[s + "input_layernorm.bias"] = gain(), bias(d)
            p[s + "post_attention_layernorm.weight"], p[s + "post_attention_layernorm.bias"] = gain(), bias(d)
            p[s + "attention.query_key_value.weight"], p[s + "attention.query_key_value.bias"] = lin(3 * d, d), bias(3 * d)
            p[s + "attention.dense.weight"], p[s + "attention.dense.bias"] = lin(d, d), bias(d)
            p[s + "mlp.dense_h_to_4h.weight"], p[s + "mlp.dense_h_to_4h.bias"] = lin(f, d), bias(f)
            p[s + "mlp.dense_4h_to_h.weight"], p[s + "mlp.dense_4h_to_h.bias"] = lin(d, f), bias(d)
        p["gpt_neox.final_layer_norm.weight"], p["gpt_neox.final_layer_norm.bias"] = gain(), bias(d)
        if not c["tie_word_embeddings"]:
            p["embed_out.weight"] = lin(V, d)
    else:
        gemma = family == "gemma2"
        f, nh, nkv = c["intermediate_size"], c["num_attention_heads"], c["num_key_value_heads"]
        hd = c.get("head_dim") or d // nh
        norm = (lambda: rng.normal(0.0, 0.1, d)) if gemma else gain
        p["model.embed_tokens.weight"] = rng.normal(0.0, 1.0, (V, d))
        ab, mb = c.get("attention_bias", False), c.get("mlp_bias", False)
        for i in range(L):
            s = f"model.layers.{i}."
            p[s + "input_layernorm.weight"], p[s + "post_attention_layernorm.weight"] = norm(), norm()
            if gemma:
                p[s + "pre_feedforward_layernorm.weight"], p[s + "post_feedforward_layernorm.weight"] = norm(), norm()
            for name, out, inp in (("q_proj", nh * hd, d), ("k_proj", nkv * hd, d), ("v_proj", nkv * hd, d), ("o_proj", d, nh * hd)):
                p[s + f"self_attn.{name}.weight"] = lin(out, inp)
                if ab:
                    p[s + f"self_attn.{name}.bias"] = bias(out)
            for name, out, inp in (("gate_proj", f, d), ("up_proj", f, d), ("down_proj", d, f)):
                p[s + f"mlp.{name}.weight"] = lin(out, inp)
                if mb:
                    p[s + f"mlp.{name}.bias"] = bias(out)
        p["model.norm.weight"] = norm()
        if not c.get("tie_word_embeddings", gemma):
            p["lm_head.weight"] = lin(V, d)
    return {k: v.astype(np.float32) for k, v in p.items()}


def neox_buffers(c, dtype_bool):
    """The non-parameter tensors old GPT-NeoX/Pythia checkpoint files carry (they must be skipped by loaders)."""
    P = c["max_position_embeddings"]
    hd = c["hidden_size"] // c["num_attention_heads"]
    rot = int(hd * c["rotary_pct"])
    inv = (1.0 / (c["rotary_emb_base"] ** (np.arange(0, rot, 2) / rot))).astype(np.float32)
    out = {}
    for i in range(c["num_hidden_layers"]):
        s = f"gpt_neox.layers.{i}.attention."
        out[s + "bias"] = np.tril(np.ones((P, P), dtype_bool)).reshape(1, 1, P, P)
        out[s + "masked_bias"] = np.array(-1e9, np.float32)
        out[s + "rotary_emb.inv_freq"] = inv
    return out


def bf16_round(a):
    """float32 -> (BF16 codes as uint16, the BF16 values as float32): round to nearest, ties to even."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    codes = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return codes, (codes.astype(np.uint32) << 16).view(np.float32)


def write_bf16(path, f32_params, extra):
    """A safetensors file whose floating tensors are BF16 (numpy has no bfloat16: the codes are written as U16
    bytes and the header says BF16)."""
    tensors, bf16_names = {}, set()
    for k, v in f32_params.items():
        tensors[k], _ = bf16_round(v)
        bf16_names.add(k)
    tensors.update(extra)
    safetensors_io.write(path, {k: v.view(np.int16) if k in bf16_names else v for k, v in tensors.items()}, {"format": "pt"})
    # Patch the dtype names in the header (same byte length: "I16" -> "BF16" would not be, so rewrite the header).
    header, meta, base = safetensors_io.read_header(path)
    with open(path, "rb") as fh:
        data = fh.read()[base:]
    for k in bf16_names:
        header[k]["dtype"] = "BF16"
    if meta:
        header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little"))
        fh.write(text)
        fh.write(data)


def build_model(mods, cfgs, family, config):
    cfg = cfgs[family](**{k: v for k, v in config.items() if k not in ("architectures", "model_type")}, attn_implementation="eager")
    cls = {"gpt_neox": mods["gpt_neox"].GPTNeoXForCausalLM, "llama": mods["llama"].LlamaForCausalLM,
           "gemma2": mods["gemma2"].Gemma2ForCausalLM}[family]
    torch.manual_seed(0)
    return cls(cfg).eval()


def load_weights(model, params):
    state = {k: torch.from_numpy(np.array(v, np.float32)) for k, v in params.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"embed_out.weight", "lm_head.weight"}
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")


def run_hf(model, family, config, tokens, mask, dtype):
    """Forward in `dtype` with forward hooks on HF's modules; returns {hook name: numpy float64 array}."""
    model = model.to(dtype)
    got = {}
    handles = []
    core = model.gpt_neox if family == "gpt_neox" else model.model
    layers = core.layers
    parallel = family == "gpt_neox" and config["use_parallel_residual"]

    def keep(name, value):
        got[name] = value.detach().to(torch.float64).numpy().copy()

    emb = core.embed_in if family == "gpt_neox" else core.embed_tokens
    if family != "gemma2":
        handles.append(emb.register_forward_hook(lambda m, a, o: keep("hook_embed", o)))
    for i, layer in enumerate(layers):
        handles.append(layer.register_forward_pre_hook(lambda m, a, i=i: keep(f"blocks.{i}.hook_resid_pre", a[0])))
        handles.append(layer.register_forward_hook(lambda m, a, o, i=i: keep(f"blocks.{i}.hook_resid_post", o[0])))
        if family == "gpt_neox":
            handles.append(layer.attention.register_forward_hook(lambda m, a, o, i=i: keep(f"blocks.{i}.hook_attn_out", o[0])))
            handles.append(layer.mlp.register_forward_hook(lambda m, a, o, i=i: keep(f"blocks.{i}.hook_mlp_out", o)))
            if not parallel:
                handles.append(layer.post_attention_layernorm.register_forward_pre_hook(lambda m, a, i=i: keep(f"blocks.{i}.hook_resid_mid", a[0])))
        elif family == "llama":
            handles.append(layer.self_attn.register_forward_hook(lambda m, a, o, i=i: keep(f"blocks.{i}.hook_attn_out", o[0])))
            handles.append(layer.mlp.register_forward_hook(lambda m, a, o, i=i: keep(f"blocks.{i}.hook_mlp_out", o)))
            handles.append(layer.post_attention_layernorm.register_forward_pre_hook(lambda m, a, i=i: keep(f"blocks.{i}.hook_resid_mid", a[0])))
        else:
            handles.append(layer.post_attention_layernorm.register_forward_hook(lambda m, a, o, i=i: keep(f"blocks.{i}.hook_attn_out", o)))
            handles.append(layer.post_feedforward_layernorm.register_forward_hook(lambda m, a, o, i=i: keep(f"blocks.{i}.hook_mlp_out", o)))
            handles.append(layer.pre_feedforward_layernorm.register_forward_pre_hook(lambda m, a, i=i: keep(f"blocks.{i}.hook_resid_mid", a[0])))
    final = core.final_layer_norm if family == "gpt_neox" else core.norm
    handles.append(final.register_forward_hook(lambda m, a, o: keep("ln_final.hook_normalized", o)))
    with torch.no_grad():
        out = model(input_ids=torch.as_tensor(tokens, dtype=torch.long), attention_mask=torch.as_tensor(mask, dtype=torch.long),
                    use_cache=False, return_dict=True)
    for h in handles:
        h.remove()
    keep("logits", out.logits)
    if family == "gemma2":
        got["hook_embed"] = got["blocks.0.hook_resid_pre"].copy()
    if family == "gpt_neox":
        for i in range(config["num_hidden_layers"]):
            x = got[f"blocks.{i}.hook_resid_pre"]
            got[f"blocks.{i}.hook_resid_pre_centered"] = x - x.mean(-1, keepdims=True)
    return got


def max_rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transformers", required=True, help="git directory of a transformers mirror with the release tags")
    ap.add_argument("--commit", default=PINNED_COMMIT, help=f"commit to read (default: {PINNED_TAG} = {PINNED_COMMIT})")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)  # reproducible reductions
    mods, cfgs = import_transformers(args.transformers, args.commit)
    summary = {"transformers_tag": PINNED_TAG, "transformers_commit": args.commit, "torch": torch.__version__,
               "numpy": np.__version__, "cases": {}}
    for name, case in CASES.items():
        family, c = case["family"], dict(case["config"])
        rng = np.random.default_rng(20261206 + case["seed"])
        params = random_weights(family, c, rng)
        tokens = rng.integers(1, c["vocab_size"], (2, SEQ)).astype(np.int32)
        mask = np.ones((2, SEQ), np.int32)
        mask[1, REAL_ROW2:] = 0
        tokens[1, REAL_ROW2:] = 0
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        hub_config = {**c, "torch_dtype": "float32", "transformers_version": PINNED_TAG[1:]}
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(hub_config, f, indent=2)
            f.write("\n")
        extra32 = neox_buffers(c, np.bool_) if family == "gpt_neox" else {}
        extra16 = {k: (v.astype(np.uint8) if v.dtype == np.bool_ else v) for k, v in (neox_buffers(c, np.bool_) if family == "gpt_neox" else {}).items()}
        safetensors_io.write(os.path.join(d, "model.safetensors"), {**params, **extra32}, {"format": "pt"})
        write_bf16(os.path.join(d, "model_bf16.safetensors"), params, extra16)
        safetensors_io.write(os.path.join(d, "inputs.safetensors"), {"tokens": tokens, "attention_mask": mask})

        model = build_model(mods, cfgs, family, c)
        load_weights(model, params)
        ref64 = run_hf(model, family, c, tokens, mask, torch.float64)
        ref32 = run_hf(model, family, c, tokens, mask, torch.float32)
        safetensors_io.write(os.path.join(d, "outputs.safetensors"), {k: v.astype(np.float32) for k, v in ref64.items()})

        bf16_values = {k: bf16_round(v)[1] for k, v in params.items()}
        model16 = build_model(mods, cfgs, family, c)
        load_weights(model16, bf16_values)
        ref16 = run_hf(model16, family, c, tokens, mask, torch.float64)
        keep16 = ["logits", "ln_final.hook_normalized"] + [f"blocks.{i}.hook_resid_post" for i in range(c["num_hidden_layers"])]
        safetensors_io.write(os.path.join(d, "outputs_bf16.safetensors"), {k: ref16[k].astype(np.float32) for k in keep16})

        summary["cases"][name] = {
            "family": family,
            "hooks": sorted(ref64),
            "hf_float32_vs_float64_max_rel": {k: max_rel(ref32[k], ref64[k]) for k in sorted(ref64)},
            "max_abs_logit": float(np.abs(ref64["logits"]).max()),
        }
        worst = max(summary["cases"][name]["hf_float32_vs_float64_max_rel"].values())
        print(f"{name}: {len(ref64)} tensors; HF float32 vs float64 worst relative difference {worst:.2e}")
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
