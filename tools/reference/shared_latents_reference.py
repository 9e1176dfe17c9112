"""Paulo & Belrose's shared-latent counts, computed the way their analysis does (SrGonao/sae_overlap, read for the
method, not copied): unit-normalise the rows of W_dec and of the encoder weight, match decoders and encoders
separately with scipy.optimize.linear_sum_assignment(maximize=True) on the cosine matrices, then per latent of A:
  shared (P&B)         decoder cosine > t and encoder cosine > t (each in its own matching)
  same partner         the two matchings give the same column
  shared, same partner both
Writes test/fixtures/shared_latents/reference.json: the dictionaries (seeded, with planted agreement) and the counts.

  /usr/bin/python3 tools/reference/shared_latents_reference.py
"""
import json
import os

import numpy as np
from scipy.optimize import linear_sum_assignment

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "shared_latents", "reference.json")


def unit(m):
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def f32(m):
    """float32 values as the shortest decimal that reads back to the same float32 (9 significant digits)."""
    return [float(f"{v:.9g}") for v in m.astype(np.float32).flatten().tolist()]


def case(rng, n_a, n_b, d, noise_dec, noise_enc, threshold):
    dec_a = rng.standard_normal((n_a, d)).astype(np.float32)
    enc_a = rng.standard_normal((n_a, d)).astype(np.float32)
    perm = rng.permutation(n_b)
    dec_b = rng.standard_normal((n_b, d)).astype(np.float32)
    enc_b = rng.standard_normal((n_b, d)).astype(np.float32)
    # The first min(n_a, n_b) latents of A reappear in B (permuted) with noise; encoders noisier than decoders.
    for i in range(min(n_a, n_b)):
        dec_b[perm[i]] = dec_a[i] + noise_dec * rng.standard_normal(d)
        enc_b[perm[i]] = enc_a[i] + noise_enc * rng.standard_normal(d)
    cost_dec = unit(dec_a.astype(np.float64)) @ unit(dec_b.astype(np.float64)).T
    cost_enc = unit(enc_a.astype(np.float64)) @ unit(enc_b.astype(np.float64)).T
    r_dec, c_dec = linear_sum_assignment(cost_dec, maximize=True)
    r_enc, c_enc = linear_sum_assignment(cost_enc, maximize=True)
    assert (r_dec == r_enc).all()
    dec_ok = cost_dec[r_dec, c_dec] > threshold
    enc_ok = cost_enc[r_enc, c_enc] > threshold
    same = c_dec == c_enc
    return {
        "nA": n_a, "nB": n_b, "d": d, "threshold": threshold,
        "decA": f32(dec_a), "encA": f32(enc_a), "decB": f32(dec_b), "encB": f32(enc_b),
        "matched": int(len(r_dec)),
        "sharedPB": int((dec_ok & enc_ok).sum()),
        "samePartner": int(same.sum()),
        "sharedSamePartner": int((dec_ok & enc_ok & same).sum()),
    }


def main():
    rng = np.random.default_rng(2501_16615)
    cases = [
        case(rng, 40, 40, 16, 0.3, 0.9, 0.7),
        case(rng, 40, 40, 16, 0.6, 0.6, 0.7),
        case(rng, 30, 44, 12, 0.4, 1.2, 0.7),
        case(rng, 48, 32, 20, 0.2, 0.5, 0.5),
    ]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/reference/shared_latents_reference.py", "cases": cases}, f)
    for c in cases:
        print(c["nA"], c["nB"], c["matched"], c["sharedPB"], c["samePartner"], c["sharedSamePartner"])


if __name__ == "__main__":
    main()
