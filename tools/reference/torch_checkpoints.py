"""Small PyTorch checkpoints written by torch.save itself, for the code-free reader's tests
(test/torch_checkpoint.test.ts, src/gpt2/torch_zip.ts + torch_pickle.ts).

Run:  /usr/bin/python3 tools/reference/torch_checkpoints.py     (writes test/fixtures/torch_checkpoints/)

  state_dict.pt   a module's state_dict() (OrderedDict with _metadata): float32/float16/bfloat16/float64 tensors,
                  int64 and int32 buffers (a 0-d one), a bool tensor, an nn.Parameter, a transposed
                  (non-contiguous) view and two slices sharing one storage at different offsets.
  plain_dict.pt   a plain dict of tensors, as dictionary_learning saves its final ae.pt ({k: v.cpu()}).
  backup.pt       dictionary_learning's training backup layout ({"step", "ae", "optimizer", "config", "norm_factor"}).
  hostile.pt      torch.save of an object whose __reduce__ is os.system: what a malicious ae.pt looks like.
  legacy.pt       the pre-1.6 (non-zip) format.
  expected.json   every tensor of state_dict.pt: dtype, shape and values (row-major, as Python floats/ints).
Outputs are deterministic except the zip timestamps torch writes (the tests read values, not bytes).
"""
import collections
import json
import os

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "torch_checkpoints")


class Hostile:
    def __reduce__(self):
        return (os.system, ("echo this pickle ran code",))


def describe(t):
    dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.int64: "I64", torch.int32: "I32", torch.bool: "BOOL"}[t.dtype]
    flat = t.detach().reshape(-1)
    values = [bool(v) for v in flat.tolist()] if t.dtype == torch.bool else (
        [int(v) for v in flat.tolist()] if dtype.startswith("I") else [float(v) for v in flat.float().tolist()])
    return {"dtype": dtype, "shape": list(t.shape), "values": values}


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(19)
    m = torch.nn.Module()
    m.encoder = torch.nn.Linear(3, 4)
    m.register_buffer("k", torch.tensor(5, dtype=torch.int64))
    m.register_buffer("counts", torch.tensor([7, -2, 2**40], dtype=torch.int64))
    m.register_buffer("small", torch.tensor([3, -4], dtype=torch.int32))
    m.register_buffer("mask", torch.tensor([True, False, True]))
    m.halfp = torch.nn.Parameter(torch.randn(2, 3, generator=g).to(torch.float16))
    m.brain = torch.nn.Parameter(torch.randn(5, generator=g).to(torch.bfloat16))
    m.wide = torch.nn.Parameter(torch.randn(2, 2, generator=g).to(torch.float64))
    with torch.no_grad():
        m.encoder.weight.copy_(torch.randn(4, 3, generator=g))
        m.encoder.bias.copy_(torch.randn(4, generator=g))
    sd = m.state_dict()
    base = torch.randn(3, 5, generator=g)
    sd["transposed"] = base.t()  # non-contiguous: stride (1, 5)
    long = torch.arange(10, dtype=torch.float32)
    sd["slice_a"] = long[2:5]
    sd["slice_b"] = long[6:9]
    sd["param"] = torch.nn.Parameter(torch.tensor([1.5, -2.5]))
    torch.save(sd, os.path.join(OUT, "state_dict.pt"))
    expected = {k: describe(v) for k, v in sd.items()}  # before the optimizer step below changes the weights

    plain = {k: v.clone() for k, v in m.state_dict().items()}
    torch.save(plain, os.path.join(OUT, "plain_dict.pt"))

    opt = torch.optim.Adam([m.encoder.weight], lr=1e-3)
    m.encoder.weight.grad = torch.ones_like(m.encoder.weight)
    opt.step()
    torch.save({"step": 12, "ae": plain, "optimizer": opt.state_dict(), "config": {"trainer_class": "TopKTrainer", "k": 2}, "norm_factor": 1.25},
               os.path.join(OUT, "backup.pt"))

    torch.save({"W_enc": torch.zeros(2), "payload": Hostile()}, os.path.join(OUT, "hostile.pt"))
    torch.save(collections.OrderedDict(w=torch.zeros(2)), os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"wrote {len(sd)} tensors to {OUT}")


if __name__ == "__main__":
    main()
