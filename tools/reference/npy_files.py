"""Small .npy files written by numpy itself (numpy.lib.format.write_array), for the .npy reader and the
activation import (test/import_acts.test.ts; src/data/npy.ts, activation_sources.ts, import_acts.ts).

Run:  /usr/bin/python3 tools/reference/npy_files.py     (writes test/fixtures/npy/; deterministic)

One array A [7, 5] of float32 values, saved in every combination the reader accepts:
  v1_c_f4_le.npy      format 1.0, C order, '<f4'          v2_fortran_f2_be.npy  format 2.0, Fortran order, '>f2'
  v3_c_f4_be.npy      format 3.0, C order, '>f4'          v1_fortran_f4_le.npy  format 1.0, Fortran order, '<f4'
  v1_c_f8_le.npy      format 1.0, C order, '<f8'          v1_3d_f4.npy          A reshaped [7, 1, 5] → read as 7 rows
  shards/part_2.npy, shards/part_10.npy                   rows 0..2 and 3..6 (natural order: 2 before 10)
  acts.safetensors    tensors "blocks.3.hook_resid_post" = A and "other" [2, 5]
  nan.npy             A with a NaN in row 4 (refused by the import)
  expected.safetensors "A" (float32) and "A_f16" (A rounded to float16 and back, what the '>f2' file holds)
"""
import os
import sys

import numpy as np
from numpy.lib import format as npformat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "npy")


def save(name, arr, version):
    with open(os.path.join(OUT, name), "wb") as f:
        npformat.write_array(f, arr, version=version)


def main():
    os.makedirs(os.path.join(OUT, "shards"), exist_ok=True)
    rng = np.random.default_rng(19)
    A = (rng.standard_normal((7, 5)) * 3).astype(np.float32)
    save("v1_c_f4_le.npy", A.astype("<f4"), (1, 0))
    save("v2_fortran_f2_be.npy", np.asfortranarray(A.astype(">f2")), (2, 0))
    save("v3_c_f4_be.npy", A.astype(">f4"), (3, 0))
    save("v1_fortran_f4_le.npy", np.asfortranarray(A), (1, 0))
    save("v1_c_f8_le.npy", A.astype("<f8"), (1, 0))
    save("v1_3d_f4.npy", A.reshape(7, 1, 5), (1, 0))
    save("shards/part_2.npy", A[:3], (1, 0))
    save("shards/part_10.npy", A[3:], (1, 0))
    bad = A.copy()
    bad[4, 2] = np.nan
    save("nan.npy", bad, (1, 0))
    safetensors_io.write(os.path.join(OUT, "acts.safetensors"), {"blocks.3.hook_resid_post": A, "other": A[:2]}, None)
    safetensors_io.write(os.path.join(OUT, "expected.safetensors"), {"A": A, "A_f16": A.astype(np.float16).astype(np.float32)}, None)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
