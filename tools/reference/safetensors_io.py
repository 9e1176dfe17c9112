"""Minimal safetensors reader/writer on numpy (Debian ships no `safetensors` Python package).

Used by the other scripts in tools/reference/; not meant to be run on its own (running it performs a small
round-trip self-test:  /usr/bin/python3 tools/reference/safetensors_io.py).

Format (https://github.com/huggingface/safetensors, written from the format description):
  bytes 0..8      N, the header length, unsigned 64-bit little-endian
  bytes 8..8+N    UTF-8 JSON: {name: {"dtype": "F32"|"F16"|..., "shape": [...], "data_offsets": [begin, end]},
                   optional "__metadata__": {str: str}}
  bytes 8+N..     the data section; offsets are relative to its start, every tensor row-major little-endian.

The writer stores tensors sorted by name, contiguous with no gaps, and pads the JSON header with spaces so
that the data section starts at a multiple of 8. The reader checks the same invariants (in-bounds, no
overlap, no gaps, byte size = dtype size x element count) and memory-maps the file, so a 548 MB checkpoint
is not read into memory until a tensor is touched (arrays are read-only views unless `copy_on_write`).
"""
import json
import struct

import numpy as np

# safetensors dtype name -> numpy dtype (little-endian)
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("u1"),
}
_NAMES = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<i8"): "I64",
          np.dtype("<i4"): "I32", np.dtype("<i2"): "I16", np.dtype("i1"): "I8", np.dtype("u1"): "U8",
          np.dtype("bool"): "BOOL"}


def write(path, tensors, metadata=None):
    """Write {name: numpy array} (F64/F32/F16/I64/I32/I16/I8/U8/BOOL) with optional {str: str} metadata."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    arrays, offset = [], 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        arr = np.asarray(tensors[name])
        if arr.dtype not in _NAMES and arr.dtype.newbyteorder("<") not in _NAMES:
            raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
        nbytes = arr.size * arr.dtype.itemsize
        header[name] = {"dtype": _NAMES[arr.dtype], "shape": [int(s) for s in arr.shape],
                        "data_offsets": [offset, offset + nbytes]}
        arrays.append(arr)
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for arr in arrays:
            if arr.dtype == np.bool_:
                arr = arr.view(np.uint8)
            f.write(memoryview(arr.reshape(-1).view(np.uint8)))


def read_header(path):
    """Return (header dict without __metadata__, metadata dict, data-section start in bytes)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    return header, metadata, 8 + n


def read(path, copy_on_write=False):
    """Return (tensors, metadata): {name: numpy array view of a memory map}, {str: str}.

    With copy_on_write=True the map is private and writable (torch.from_numpy then works without a copy or a
    warning); nothing is ever written back to the file."""
    header, metadata, base = read_header(path)
    mm = np.memmap(path, dtype=np.uint8, mode="c" if copy_on_write else "r")
    data_len = mm.shape[0] - base
    spans = []
    out = {}
    for name, info in header.items():
        dt = DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if not (0 <= b <= e <= data_len) or e - b != count * dt.itemsize:
            raise ValueError(f"{path}: tensor {name} has bad data_offsets {b}..{e} for {info['dtype']} {info['shape']}")
        spans.append((b, e, name))
        arr = np.frombuffer(mm, dtype=dt, count=count, offset=base + b) if count else np.zeros(0, dt)
        out[name] = arr.reshape(info["shape"])
    spans.sort()
    pos = 0
    for b, e, name in spans:
        if b != pos:
            raise ValueError(f"{path}: tensor {name} starts at {b}, expected {pos} (gap or overlap)")
        pos = e
    if pos != data_len:
        raise ValueError(f"{path}: data section has {data_len - pos} trailing bytes")
    return out, metadata


if __name__ == "__main__":
    import os
    import tempfile

    rng = np.random.default_rng(0)
    t = {"a": rng.normal(size=(3, 5)).astype(np.float32), "b": np.arange(7, dtype=np.int32),
         "c": rng.normal(size=4).astype(np.float16), "d": np.array([1, 0, 1], np.uint8), "e": np.zeros((0, 3), np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "x.safetensors")
        write(p, t, {"k": "v"})
        back, meta = read(p)
        assert meta == {"k": "v"}
        for k, v in t.items():
            assert back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v), k
        (n,) = struct.unpack("<Q", open(p, "rb").read(8))
        assert n % 8 == 0
    print("safetensors_io self-test ok")
