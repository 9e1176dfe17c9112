"""Reference gradients of a tiny MLP for the TypeScript autograd engine (src/tensor/autograd).

Run:  /usr/bin/python3 tools/reference/autograd_reference.py      (writes test/fixtures/autograd_mlp/)

Computes, in float64 with torch.autograd, then casts every stored value to float32:
  h    = ReLU(x @ W1 + b1)          x [4,5], W1 [5,7], b1 [7]   (weights stored input-major: y = x @ W + b)
  y    = h @ W2 + b2                W2 [7,3], b2 [3]
  loss = mean((y − t)²)             mean over all 4×3 elements; t [4,3]
and the gradients dloss/dW1, db1, dW2, db2. The inputs are drawn in float64 and rounded to float32 first, so
the float32 values in the fixture are exactly the inputs the float64 computation used. No pre-activation is
within 1e-3 of zero (checked), so ReLU's kink cannot make float32 and float64 disagree.

Fixture test/fixtures/autograd_mlp/:
  mlp.safetensors  F32: x [4,5], t [4,3], W1 [5,7], b1 [7], W2 [7,3], b2 [3], loss [1], h_pre [4,7]
                   (x@W1+b1), y [4,3], dW1 [5,7], db1 [7], dW2 [7,3], db2 [3]
  mlp.json         the loss as a float64 number, shapes and this description
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "autograd_mlp")


def main():
    rng = np.random.default_rng(1234)
    f32 = lambda *s, scale=1.0: (rng.normal(0.0, scale, s)).astype(np.float32)  # noqa: E731
    x, t = f32(4, 5), f32(4, 3)
    W1, b1 = f32(5, 7, scale=0.5), f32(7, scale=0.1)
    W2, b2 = f32(7, 3, scale=0.5), f32(3, scale=0.1)
    T = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in ("W1", "b1", "W2", "b2"))
         for k, v in dict(x=x, t=t, W1=W1, b1=b1, W2=W2, b2=b2).items()}
    h_pre = T["x"] @ T["W1"] + T["b1"]
    if float(h_pre.abs().min()) < 1e-3:
        raise SystemExit("a ReLU input is too close to 0; pick another seed")
    y = torch.relu(h_pre) @ T["W2"] + T["b2"]
    loss = ((y - T["t"]) ** 2).mean()
    loss.backward()
    out = {"x": x, "t": t, "W1": W1, "b1": b1, "W2": W2, "b2": b2,
           "loss": np.array([loss.item()], dtype=np.float32), "h_pre": h_pre.detach().numpy().astype(np.float32),
           "y": y.detach().numpy().astype(np.float32)}
    for k in ("W1", "b1", "W2", "b2"):
        out["d" + k] = T[k].grad.numpy().astype(np.float32)
    os.makedirs(OUT, exist_ok=True)
    safetensors_io.write(os.path.join(OUT, "mlp.safetensors"), out, {"computed": "float64 torch.autograd, cast to float32"})
    meta = {
        "description": "h = relu(x @ W1 + b1); y = h @ W2 + b2; loss = mean((y - t)^2); grads of loss. "
                       "Computed in float64 from the stored float32 inputs, stored as float32.",
        "loss_f64": loss.item(),
        "shapes": {k: list(v.shape) for k, v in sorted(out.items())},
        "relu_active_fraction": float((h_pre > 0).double().mean()),
    }
    with open(os.path.join(OUT, "mlp.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {OUT}: loss {loss.item():.10f}, ReLU active {meta['relu_active_fraction']:.2f}")


if __name__ == "__main__":
    main()
