"""Optimal assignment totals from scipy.optimize.linear_sum_assignment, for the TypeScript solver's test.

Run:  /usr/bin/python3 tools/reference/lap_reference.py   → test/fixtures/lap_reference.json

The matrices are not stored: both sides generate them from the same integer formula, which TypeScript and
numpy evaluate exactly — entry(i, j) = ((i·7919 + j·104729 + 31·i·j + seed·15485863) mod 1000003) / 1000003 − 0.5,
stored as float32 (every value is computed in float64 and rounded once, identically on both sides).
"""
import json
import os

import numpy as np
from scipy.optimize import linear_sum_assignment

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def matrix(rows, cols, seed):
    i = np.arange(rows, dtype=np.int64)[:, None]
    j = np.arange(cols, dtype=np.int64)[None, :]
    m = (i * 7919 + j * 104729 + i * j * 31 + seed * 15485863) % 1000003
    return (m.astype(np.float64) / 1000003 - 0.5).astype(np.float32)


def main():
    cases = []
    for rows, cols, seed, maximize in [(300, 300, 1, False), (300, 300, 2, True), (300, 200, 3, False), (200, 300, 4, True), (257, 300, 5, True)]:
        m = matrix(rows, cols, seed)
        r, c = linear_sum_assignment(m.astype(np.float64), maximize=maximize)
        cases.append({"rows": rows, "cols": cols, "seed": seed, "maximize": maximize,
                      "total": float(m.astype(np.float64)[r, c].sum()), "pairs": len(r)})
    out = os.path.join(ROOT, "test", "fixtures", "lap_reference.json")
    with open(out, "w") as f:
        json.dump({"scipy": __import__("scipy").__version__, "cases": cases}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
