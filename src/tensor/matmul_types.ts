/**
 * The one matmul contract every kernel implements (reference, blocked scalar, WASM SIMD, threaded).
 *
 *   C[m×n] (+)= op(A)[m×k] · op(B)[k×n]
 *
 * Storage is row-major and contiguous. op(A) = A when transA is false (A stored [m, k]) and Aᵀ when true
 * (A stored [k, m]); likewise B is stored [k, n], or [n, k] when transB. With `accumulate` the product is
 * added to C's current contents, otherwise C is overwritten. Kernels must not allocate per call on the hot
 * path beyond scratch they own, and must compute each output element with the same sequence of operations
 * whatever the thread count (determinism).
 */
export interface MatmulArgs {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  accumulate?: boolean;
}

/** A matmul implementation: C (+)= op(A)·op(B) over the given arrays. */
export type MatmulKernel = (args: MatmulArgs) => void;
