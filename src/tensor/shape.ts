/** Shape arithmetic shared by every op: sizes, strides, broadcasting, and the errors that name the op. */

export type Shape = readonly number[];

/** An op given shapes it cannot combine (the message names the op and the shapes). */
export class ShapeError extends Error {
  override name = "ShapeError";
}

/** A shape as text, e.g. [2, 3]. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** The number of elements of a shape. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throw a ShapeError naming the op unless every dimension is a non-negative integer. */
export function assertValidShape(shape: Shape, op: string): void {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`${op}: invalid shape ${formatShape(shape)} (dimensions must be non-negative integers)`);
  }
}

/** Row-major strides in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** Whether two shapes are equal. */
export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy broadcasting: align from the right; each pair of dimensions must be equal or one of them 1. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides for reading an input of shape `inShape` as if it had the (broadcast) shape `outShape`:
 * broadcast dimensions get stride 0, so one index walk serves both operands.
 */
export function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const inStrides = stridesOf(inShape);
  const rank = outShape.length;
  const out = new Array<number>(rank).fill(0);
  for (let i = 0; i < inShape.length; i++) {
    const o = rank - inShape.length + i;
    out[o] = inShape[i] === 1 && outShape[o] !== 1 ? 0 : inStrides[i]!;
  }
  return out;
}

/** Normalise a possibly negative axis, with an error naming the op. */
export function normaliseAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Split a shape around an axis into (outer, size, inner) so reductions walk contiguous memory. */
export function splitAtAxis(shape: Shape, axis: number): { outer: number; size: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, size: shape[axis]!, inner };
}
