"""PyTorch CPU yardstick for `npm run bench`: prints ONE flat JSON object (same keys as bench/run.ts) on stdout,
progress on stderr.

Run:  /usr/bin/python3 tools/reference/bench_torch.py [--quick] [--only matmul,gpt2,sae] [--threads 2]

Setup: torch.set_num_threads(2) (and OPENBLAS_NUM_THREADS / OMP_NUM_THREADS = 2 unless already set, because
Debian's torch calls OpenBLAS for matmuls), float32, CPU. Every measurement does warm-up run(s), then times
repeats with time.perf_counter and reports the MEDIAN: at least 3 repeats (2 for runs longer than 5 s) and
more until ~1 s (--quick: ~0.5 s) of timed work or 10 repeats.

Keys:
  matmul.torch.<M>x<K>x<N>.gflops    C[M,N] = A[M,K] @ B[K,N] (torch.matmul with out=), 2·M·K·N / time.
      Full: 256³, 512³, 1024³, 2048³, 64x768x2304, 2048x768x3072, 4096x768x8192.
      Quick: 256³, 512³, 1024³, 64x768x2304, 2048x768x3072.
  gpt2.forward.layer6.tokens_per_s   GPT-2 small shaped random weights (N(0, 0.02²), float32), batch 32 x seq 64
                                     tokens, torch.no_grad, blocks 0-5 only (= blocks.6.hook_resid_pre), with
                                     the plain forward of gpt2_reference.py (causal mask, no padding mask).
  gpt2.forward.full.tokens_per_s     same, all 12 blocks + ln_f + logits [32, 64, 50257].
  sae.train.<recipe>.n<N>.k<K>.b<B>.rows_per_s
                                     training steps of sae_torch.TorchSAE (dense: full encoder matmul, the
                                     recipe's activation, dense decoder matmul, autograd, Adam; projection,
                                     clipping, renormalisation as the recipe says), d_in 768, random N(0,1) input
                                     batch of B rows, rows per second = B / median step time. A fresh SAE has no
                                     dead latents, so AuxK is not evaluated (as at the start of a real run).
      Full: topk and seed-report x n in {128, 512, 2048, 8192, 32768} x k in {8, 32} x B in {4096, 64};
            relu-l1, jumprelu, batchtopk, matryoshka-batchtopk, gated x n in {512, 2048, 8192} x k 32 x B 4096.
      Quick: every recipe x n in {512, 2048} x k 32 x B 4096 (and B 64 for topk and seed-report).
  sae.train.<recipe>.n<N>.k<K>.b<B>.t1.rows_per_s
                                     the same on ONE thread (torch.set_num_threads(1)): a sweep's worker
                                     processes run one thread each. Every recipe at n 2048 (full: and 8192), B 4096.
  lm.train.<L>x<d>.t<T>.b<B>.tokens_per_s
                                     GPT-2 training steps (train-lm's loop: forward of gpt2_reference.py, fused
                                     F.cross_entropy over the 50257-token tied head, backward, clip_grad_norm_,
                                     AdamW with decay on matrices), random tokens, float32; tokens per second =
                                     B·T / median step time. Configs: 4x128 t128 b16 (the shipped model's shape)
                                     and, full only, 2x64 t64 b8.
  family.<family>.<shape>[.bf16].tokens_per_s
                                     forward to the last block for GPT-2, GPT-NeoX, Llama and Gemma-2 at a
                                     Pythia-160m-like (d 768, 4 layers) and a Llama-1B-like (d 2048, GQA 32/8,
                                     MLP 8192, 2 layers) shape, batch 2 x 256 tokens (bench_families_torch.py).
  peak_rss_mb (ru_maxrss), torch.version, torch.threads, torch.blas, loadavg.start / loadavg.end (1-minute
  load average of the machine, to show whether other work was running).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_reference  # noqa: E402
from sae_torch import TorchSAE  # noqa: E402
from train_gpt2_reference import param_shapes  # noqa: E402
from bench_families_torch import bench_families  # noqa: E402

MATMUL_FULL = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (64, 768, 2304),
               (2048, 768, 3072), (4096, 768, 8192)]
MATMUL_QUICK = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (64, 768, 2304), (2048, 768, 3072)]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median_seconds(fn, min_time, warmup=1, max_repeats=10):
    for _ in range(warmup):
        fn()
    times = []
    while True:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        enough = 2 if times[0] > 5 else 3
        if len(times) >= max_repeats or (len(times) >= enough and sum(times) >= min_time):
            break
    return statistics.median(times)


def bench_matmul(quick, min_time):
    out = {}
    g = torch.Generator().manual_seed(0)
    for M, K, N in (MATMUL_QUICK if quick else MATMUL_FULL):
        a, b, c = torch.randn(M, K, generator=g), torch.randn(K, N, generator=g), torch.empty(M, N)
        s = median_seconds(lambda: torch.matmul(a, b, out=c), min_time, warmup=2)
        out[f"matmul.torch.{M}x{K}x{N}.gflops"] = round(2 * M * K * N / s / 1e9, 3)
        log(f"  matmul {M}x{K}x{N}: {out[f'matmul.torch.{M}x{K}x{N}.gflops']} GFLOP/s")
    return out


def random_gpt2():
    cfg = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257, "layer_norm_epsilon": 1e-5}
    d, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    g = torch.Generator().manual_seed(0)
    nrm = lambda *s: torch.randn(*s, generator=g) * 0.02  # noqa: E731
    W = {"wte.weight": nrm(V, d), "wpe.weight": nrm(P, d), "ln_f.weight": torch.ones(d), "ln_f.bias": torch.zeros(d)}
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        W.update({p + "ln_1.weight": torch.ones(d), p + "ln_1.bias": torch.zeros(d),
                  p + "attn.c_attn.weight": nrm(d, 3 * d), p + "attn.c_attn.bias": torch.zeros(3 * d),
                  p + "attn.c_proj.weight": nrm(d, d), p + "attn.c_proj.bias": torch.zeros(d),
                  p + "ln_2.weight": torch.ones(d), p + "ln_2.bias": torch.zeros(d),
                  p + "mlp.c_fc.weight": nrm(d, 4 * d), p + "mlp.c_fc.bias": torch.zeros(4 * d),
                  p + "mlp.c_proj.weight": nrm(4 * d, d), p + "mlp.c_proj.bias": torch.zeros(d)})
    return W, cfg


def bench_gpt2(quick, min_time):
    W, cfg = random_gpt2()
    tokens = np.random.default_rng(0).integers(0, cfg["vocab_size"], (32, 64))
    n_tok = tokens.size
    out = {}
    with torch.no_grad():
        s = median_seconds(lambda: gpt2_reference.forward(W, cfg, tokens, n_blocks=6), min_time)
        out["gpt2.forward.layer6.tokens_per_s"] = round(n_tok / s, 1)
        log(f"  gpt2 to layer 6: {out['gpt2.forward.layer6.tokens_per_s']} tokens/s")
        s = median_seconds(lambda: gpt2_reference.forward(W, cfg, tokens), min_time)
        out["gpt2.forward.full.tokens_per_s"] = round(n_tok / s, 1)
        log(f"  gpt2 full + logits: {out['gpt2.forward.full.tokens_per_s']} tokens/s")
    return out


NEW_RECIPES = ("relu-l1", "jumprelu", "batchtopk", "matryoshka-batchtopk", "gated")


def sae_cases(quick):
    """(recipe, n, k, batch, threads) to time; the same list as bench/models.ts."""
    cases = []
    for recipe in ("topk", "seed-report"):
        for batch in (4096, 64):
            for n in ([512, 2048] if quick else [128, 512, 2048, 8192, 32768]):
                for k in ([32] if quick else [8, 32]):
                    cases.append((recipe, n, k, batch, None))
    for recipe in NEW_RECIPES:
        for n in ([512, 2048] if quick else [512, 2048, 8192]):
            cases.append((recipe, n, 32, 4096, None))
    for recipe in ("topk", "seed-report") + NEW_RECIPES:
        for n in ([2048] if quick else [2048, 8192]):
            cases.append((recipe, n, 32, 4096, 1))
    return cases


def bench_sae(quick, min_time, one_thread=False):
    """The multi-threaded cases here; the one-thread cases in a child process started with OPENBLAS_NUM_THREADS=1
    and OMP_NUM_THREADS=1 (torch.set_num_threads alone does not reach the BLAS library of Debian's torch)."""
    out = {}
    d_in = 768
    g = torch.Generator().manual_seed(0)
    inputs = {}
    for recipe, n, k, batch, threads in sae_cases(quick):
        if (threads == 1) != one_thread:
            continue
        x = inputs.setdefault(batch, torch.randn(batch, d_in, generator=g))
        sae = TorchSAE(recipe, d_in, n, k, seed=0, dead_after_tokens=1 << 62)
        s = median_seconds(lambda: sae.step(x), min_time)
        key = f"sae.train.{recipe}.n{n}.k{k}.b{batch}{'.t1' if threads == 1 else ''}.rows_per_s"
        out[key] = round(batch / s, 1)
        log(f"  {key}: {out[key]}")
        del sae
    if not one_thread:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        args = [sys.executable, os.path.abspath(__file__), "--only", "sae1", "--threads", "1"] + (["--quick"] if quick else [])
        child = json.loads(subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout)
        out.update({k: v for k, v in child.items() if k.startswith("sae.train.")})
    return out


LM_CONFIGS_QUICK = [(6, 64, 4, 128, 16)]  # the shipped model's shape first, as bench/lm.ts
LM_CONFIGS_FULL = LM_CONFIGS_QUICK + [(4, 128, 4, 128, 16), (2, 64, 2, 64, 8)]


def bench_lm(quick, min_time):
    out = {}
    for L, d, H, T, B in (LM_CONFIGS_QUICK if quick else LM_CONFIGS_FULL):
        cfg = {"n_layer": L, "n_head": H, "n_embd": d, "n_positions": T, "vocab_size": 50257, "layer_norm_epsilon": 1e-5}
        g = torch.Generator().manual_seed(0)
        W = {}
        for key, shape in sorted(param_shapes(cfg).items()):
            W[key] = (torch.ones(shape) if key.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")) else
                      torch.zeros(shape) if len(shape) == 1 else torch.randn(*shape, generator=g) * 0.02).requires_grad_(True)
        decay = [p for p in W.values() if p.dim() >= 2]
        rest = [p for p in W.values() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.95))
        rng = np.random.default_rng(0)
        tokens = rng.integers(0, 50257, (B, T))
        targets = torch.as_tensor(rng.integers(0, 50257, (B * T,)))

        def step():
            opt.zero_grad(set_to_none=True)
            _, logits = gpt2_reference.forward(W, cfg, tokens)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 50257), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(W.values()), 1.0)
            opt.step()

        s = median_seconds(step, min_time, warmup=2)
        key = f"lm.train.{L}x{d}.t{T}.b{B}.tokens_per_s"
        out[key] = round(B * T / s, 1)
        log(f"  {key}: {out[key]}")
    return out


def blas_name():
    for path in ("/usr/lib/x86_64-linux-gnu/libblas.so.3", "/usr/lib/aarch64-linux-gnu/libblas.so.3"):
        if os.path.exists(path):
            return os.path.realpath(path).split("/")[-2]
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer shapes and shorter timing")
    ap.add_argument("--only", default="matmul,gpt2,sae,lm,families", help="comma-separated sections: matmul, gpt2, sae, lm, families (sae1: only the one-thread SAE cases)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    sections = {"matmul": bench_matmul, "gpt2": bench_gpt2, "sae": bench_sae, "lm": bench_lm,
                "families": lambda quick, min_time: bench_families(quick, min_time, median_seconds, log),
                "sae1": lambda quick, min_time: bench_sae(quick, min_time, one_thread=True)}
    wanted = [s for s in a.only.split(",") if s]
    bad = [s for s in wanted if s not in sections]
    if bad or not wanted:
        ap.error(f"unknown section(s) {', '.join(bad) or '(none)'}; choose from {', '.join(sections)}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    min_time = 0.5 if a.quick else 1.0
    result = {"torch.version": torch.__version__, "torch.threads": torch.get_num_threads(), "torch.blas": blas_name(),
              "loadavg.start": round(os.getloadavg()[0], 2)}
    for name in wanted:
        log(f"bench_torch: {name}…")
        result.update(sections[name](a.quick, min_time))
    result["loadavg.end"] = round(os.getloadavg()[0], 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
