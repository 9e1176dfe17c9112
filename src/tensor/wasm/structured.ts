/**
 * Structured-programming helpers over `Code`: counted loops and min(), so the GEMM emitters read like the
 * nested loops they implement instead of raw block/loop/br_if bookkeeping.
 *
 * WebAssembly has no `for`: a loop is `block { loop { ...; br_if 0 (continue) } }` where branching to the
 * `loop` label jumps back to its top and branching to the `block` label exits. The helpers below emit that
 * shape with the test at the bottom (one branch per iteration) and a guard in front for zero trips.
 */
import type { Code } from "./emitter.ts";

/**
 * `for (counter = 0; counter < limit; counter += step) body()` with unsigned compares. `limit` is a local
 * read on every test, `step` a constant. `body` must leave the stack as it found it and must not branch
 * outside itself.
 */
export function forUpTo(code: Code, counter: number, limit: number, step: number, body: () => void): void {
  code.i32Const(0).localSet(counter);
  code.localGet(limit).if(); // limit = 0 means zero trips: skip the loop entirely
  code.loop();
  body();
  code.localGet(counter).i32Const(step).i32Add().localTee(counter).localGet(limit).i32LtU().brIf(0);
  code.end(); // loop
  code.end(); // if
}

/**
 * `while (counter !== 0) { body(); counter -= 1; }` — the cheapest loop there is: the decrement sets the flags
 * the branch tests, so the bookkeeping is one subtract-and-branch per iteration.
 */
export function countDown(code: Code, counter: number, body: () => void): void {
  code.localGet(counter).if();
  code.loop();
  body();
  code.localGet(counter).i32Const(1).i32Sub().localTee(counter).brIf(0);
  code.end(); // loop
  code.end(); // if
}

/** `target = min(a, b)` for unsigned i32 values pushed by the two callbacks (each is evaluated twice). */
export function setMinU(code: Code, target: number, pushA: () => void, pushB: () => void): void {
  // select(x, y, cond) keeps x when cond ≠ 0: min = select(a, b, a < b).
  pushA();
  pushB();
  pushA();
  pushB();
  code.i32LtU().select().localSet(target);
}
