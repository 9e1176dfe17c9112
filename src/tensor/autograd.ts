/**
 * Reverse-mode automatic differentiation.
 *
 * Ops record a GradNode on their output while grad mode is on and any input requires grad. `backward(loss)`
 * orders the recorded graph topologically (iterative DFS, so deep graphs cannot overflow the stack), then
 * walks it from the loss back to the leaves, summing each node's contributions into its inputs' gradients.
 * Leaves (parameters) accumulate into `.grad` across calls until `zeroGrad`, as in PyTorch.
 */
import { Tensor, type GradNode } from "./tensor.ts";
import { formatShape } from "./shape.ts";

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [tensor, next] = top;
    const inputs = tensor.gradNode?.inputs ?? [];
    if (next < inputs.length) {
      top[1] = next + 1;
      const child = inputs[next]!;
      if (!visited.has(child) && child.requiresGrad) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(tensor);
    }
  }
  return order.reverse(); // root first
}

/**
 * Back-propagate from `loss`. A scalar loss is seeded with 1; a non-scalar output needs an explicit
 * `gradOutput` of its shape.
 */
export function backward(loss: Tensor, gradOutput?: Float32Array): void {
  if (!loss.requiresGrad) throw new Error("backward: the tensor does not require grad (no parameter with requiresGrad reached it, or it was computed under noGrad)");
  let seed = gradOutput;
  if (!seed) {
    if (loss.size !== 1) throw new Error(`backward: output of shape ${formatShape(loss.shape)} is not a scalar; pass gradOutput`);
    seed = new Float32Array([1]);
  } else if (seed.length !== loss.size) {
    throw new Error(`backward: gradOutput has ${seed.length} elements for output shape ${formatShape(loss.shape)}`);
  }
  const pending = new Map<Tensor, Float32Array>();
  // Ops may pass one gradient array through to several inputs (add returns it twice). Arrays held in
  // `pending` are summed into in place, so an array already held is copied before it is held again.
  const held = new Set<Float32Array>();
  pending.set(loss, seed.slice());
  for (const tensor of topologicalOrder(loss)) {
    const grad = pending.get(tensor);
    if (!grad) continue;
    pending.delete(tensor); // free intermediate gradients as soon as they are consumed
    const node: GradNode | null = tensor.gradNode;
    if (!node) {
      // A leaf: accumulate into .grad.
      if (!tensor.grad) tensor.grad = new Tensor(new Float32Array(tensor.size), tensor.shape);
      const g = tensor.grad.data;
      for (let i = 0; i < g.length; i++) g[i] += grad[i]!;
      continue;
    }
    const inputGrads = node.backward(grad);
    node.inputs.forEach((input, i) => {
      const g = inputGrads[i];
      if (!g || !input.requiresGrad) return;
      const existing = pending.get(input);
      if (!existing) {
        const owned = held.has(g) || g === grad ? g.slice() : g;
        held.add(owned);
        pending.set(input, owned);
      } else {
        for (let j = 0; j < g.length; j++) existing[j] += g[j]!;
      }
    });
  }
}

/** Reset the gradients of a list of parameters. */
export function zeroGrads(params: readonly Tensor[]): void {
  for (const p of params) p.zeroGrad();
}
