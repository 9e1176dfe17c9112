/**
 * Tensors and autograd in five minutes: build a tiny two-layer network, run it forward, back-propagate a loss,
 * and check one gradient against a finite difference by hand.
 *   npx tsx examples/01_tensors_and_autograd.ts
 */
import { Tensor, randn, matmul, relu, sub, square, mean, backward, noGrad, Rng } from "sae-seeds/tensor";

const rng = Rng.stream(1, "example/autograd");
const x = randn([4, 3], rng);                          // a batch of 4 inputs with 3 features
const target = randn([4, 1], rng);
const w1 = randn([3, 5], rng, 0.5).requireGrad();      // parameters are leaves that want gradients
const w2 = randn([5, 1], rng, 0.5).requireGrad();

const loss = (a: Tensor, b: Tensor) => mean(square(sub(matmul(relu(matmul(x, a)), b), target)));
const l = loss(w1, w2);
backward(l);                                           // fills w1.grad and w2.grad
console.log("loss", l.item().toFixed(5));
console.log("d loss / d w2", Array.from(w2.grad!.data, (v) => v.toFixed(4)).join(" "));

// The gradient is a slope: nudge one weight and watch the loss move by about grad × nudge.
const h = 1e-3;
const nudged = noGrad(() => {
  const w = w2.clone();
  w.data[0]! += h;
  return loss(w1, w).item();
});
console.log("finite difference", ((nudged - l.item()) / h).toFixed(4), "vs autograd", w2.grad!.data[0]!.toFixed(4));
