/**
 * The Tensor: a Float32Array in row-major order plus a shape, and the autograd bookkeeping
 * (requiresGrad, grad, and the node that created it). No views or strides: every tensor owns
 * contiguous storage, which keeps every kernel a simple loop over memory a reader can follow.
 */
import { assertValidShape, formatShape, sizeOf, ShapeError, type Shape } from "./shape.ts";
import type { Rng } from "./rng.ts";

/** How an op's output sends its gradient back to its inputs. Grads are raw arrays: backward never builds graphs. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Given d(loss)/d(output), return d(loss)/d(input) for each input (null where the input needs none). */
  backward(gradOutput: Float32Array): (Float32Array | null)[];
}

let gradEnabled = true;

/** True unless inside `noGrad`. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording the graph (inference, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** A float32 array with a shape, and (for autograd) the op that made it and its gradient. */
export class Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
  requiresGrad: boolean;
  grad: Tensor | null = null;
  /** Set by ops when the graph is recorded; null for leaves. */
  gradNode: GradNode | null = null;

  constructor(data: Float32Array, shape: Shape, requiresGrad = false) {
    assertValidShape(shape, "Tensor");
    const expected = sizeOf(shape);
    if (data.length !== expected) {
      throw new ShapeError(`Tensor: data has ${data.length} elements but shape ${formatShape(shape)} needs ${expected}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.requiresGrad = requiresGrad;
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Element at a multi-index (for tests and teaching; kernels index `data` directly). */
  get(...index: number[]): number {
    if (index.length !== this.shape.length) throw new ShapeError(`get: index of rank ${index.length} for shape ${formatShape(this.shape)}`);
    let flat = 0;
    for (let i = 0; i < index.length; i++) {
      const d = this.shape[i]!;
      const ix = index[i]!;
      if (ix < 0 || ix >= d) throw new ShapeError(`get: index ${ix} out of range for axis ${i} of ${formatShape(this.shape)}`);
      flat = flat * d + ix;
    }
    return this.data[flat]!;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ShapeError(`item: tensor of shape ${formatShape(this.shape)} has ${this.size} elements, not 1`);
    return this.data[0]!;
  }

  /** A leaf copy that shares nothing and records nothing. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  /** A copy of the data (not of the graph). */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape, this.requiresGrad);
  }

  /** Mark this leaf as a parameter whose gradient should be accumulated. */
  requireGrad(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  /** Reset the accumulated gradient to zero. */
  zeroGrad(): void {
    if (this.grad) this.grad.data.fill(0);
  }

  /** The elements as a plain array, in row-major order. */
  toArray(): number[] {
    return Array.from(this.data);
  }

  /** Tensor([shape]), for messages. */
  toString(): string {
    return `Tensor(${formatShape(this.shape)})`;
  }
}

// ---------------------------------------------------------------- creation

/** Storage for a shape, validated first so a bad shape gets a ShapeError rather than a RangeError. */
function allocate(shape: Shape, op: string): Float32Array {
  assertValidShape(shape, op);
  return new Float32Array(sizeOf(shape));
}

/** A tensor of zeros. */
export function zeros(shape: Shape): Tensor {
  return new Tensor(allocate(shape, "zeros"), shape);
}

/** A tensor of ones. */
export function ones(shape: Shape): Tensor {
  return full(shape, 1);
}

/** A tensor of this shape filled with `value`. */
export function full(shape: Shape, value: number): Tensor {
  return new Tensor(allocate(shape, "full").fill(value), shape);
}

/** From a (possibly nested) JS array, or a flat array plus a shape. */
export function fromArray(values: ArrayLike<number> | NestedArray, shape?: Shape): Tensor {
  if (shape) {
    const flat = Float32Array.from(values as ArrayLike<number>);
    return new Tensor(flat, shape);
  }
  const inferred: number[] = [];
  let level: unknown = values;
  while (Array.isArray(level)) {
    inferred.push(level.length);
    level = level[0];
  }
  const flat = (values as unknown[]).flat(Infinity) as number[];
  return new Tensor(Float32Array.from(flat), inferred);
}
export type NestedArray = number[] | NestedArray[];

/** 0, 1, …, n−1 (or start..stop by step). */
export function arange(startOrStop: number, stop?: number, step = 1): Tensor {
  const start = stop === undefined ? 0 : startOrStop;
  const end = stop === undefined ? startOrStop : stop;
  if (step === 0) throw new Error("arange: step must not be 0");
  const n = Math.max(0, Math.ceil((end - start) / step));
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return new Tensor(data, [n]);
}

/** Normal samples with mean 0 and standard deviation `std`, from `rng`. */
export function randn(shape: Shape, rng: Rng, std = 1): Tensor {
  const data = allocate(shape, "randn");
  rng.fillNormal(data, 0, std);
  return new Tensor(data, shape);
}

/** Uniform samples in [lo, hi), from `rng`. */
export function uniform(shape: Shape, rng: Rng, lo = 0, hi = 1): Tensor {
  const data = allocate(shape, "uniform");
  rng.fillUniform(data, lo, hi);
  return new Tensor(data, shape);
}
