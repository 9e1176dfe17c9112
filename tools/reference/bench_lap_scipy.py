"""scipy.optimize.linear_sum_assignment seconds on random decoder-cosine matrices (Gaussian rows, d = 768,
L2-normalised, cosine matrix, maximise) — the same keys as `npm run bench`'s hungarian section.

Run:  /usr/bin/python3 tools/reference/bench_lap_scipy.py [--sizes 1024,4096]
"""
import argparse
import json
import time

import numpy as np
from scipy.optimize import linear_sum_assignment


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1024,4096")
    a = ap.parse_args()
    out = {}
    for n in [int(s) for s in a.sizes.split(",")]:
        rng = np.random.default_rng(n)
        x = rng.standard_normal((n, 768)).astype(np.float32)
        y = rng.standard_normal((n, 768)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y /= np.linalg.norm(y, axis=1, keepdims=True)
        sim = x @ y.T
        t = time.perf_counter()
        linear_sum_assignment(sim, maximize=True)
        out[f"hungarian.n{n}.seconds"] = round(time.perf_counter() - t, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
