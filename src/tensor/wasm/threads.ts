/**
 * A pool of worker threads that each run the wasm `gemm` on their slice of a product, all on one shared
 * WebAssembly.Memory — and a synchronous way to use them.
 *
 * Why synchronous: matmul callers are plain numeric code, not async. Node lets the main thread block in
 * `Atomics.wait`, so a call publishes the jobs in a small shared control block, wakes the workers with
 * `Atomics.notify`, computes its own slice meanwhile, then sleeps until the last worker reports.
 *
 * Control block (Int32Array over its own SharedArrayBuffer, so it never moves when the memory grows):
 *   header  GENERATION  job counter; workers sleep on it and wake when it changes
 *           PENDING     workers still busy with the current job; the last one to finish wakes the caller
 *           SHUTDOWN    set once to make every worker leave its loop
 *           STARTED     workers that have instantiated the module (or failed to: FAILED)
 *   slot w  ASSIGNED    the generation whose job worker w must run (so a late-waking worker can never run a job
 *                       twice or run one that was not meant for it), STATUS, then the 13 `gemm` arguments.
 *
 * Workers are started from a JavaScript source string (`eval: true`, no inherited execArgv): no TypeScript loader
 * is needed inside the worker, so this works the same under node, tsx and vitest. They are unref'd: an idle pool never keeps the
 * process alive, and Node ends them at exit; `shutdown()` ends them explicitly.
 */
import { Worker } from "node:worker_threads";
import { GEMM_PARAMS } from "./gemm_kernel.ts";
import type { WasmMemory, WasmModule } from "./wasm_api.ts";

const GENERATION = 0;
const PENDING = 1;
const SHUTDOWN = 2;
const STARTED = 3;
const FAILED = 4;
const HEADER_SLOTS = 8;
const ASSIGNED = 0;
const STATUS = 1;
const ARGS = 2;
const SLOT_SIZE = 16;
if (ARGS + GEMM_PARAMS.length > SLOT_SIZE) throw new Error("worker slot too small for the gemm arguments");

/** The most workers one pool can hold (the control block is sized for them). */
export const MAX_WORKERS = 255;
/** How long a starting worker may take to instantiate the module before we give up on it. */
const START_TIMEOUT_MS = 30_000;

/** Arguments of one `gemm` call, in GEMM_PARAMS order. */
export type GemmCallArgs = readonly number[];

const WORKER_SOURCE = `"use strict";
const { workerData } = require("node:worker_threads");
const { module, memory, control, index, generation } = workerData;
const ctl = new Int32Array(control);
const slot = ${HEADER_SLOTS} + index * ${SLOT_SIZE};
let gemm = null;
try {
  gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
  Atomics.add(ctl, ${STARTED}, 1);
} catch (error) {
  Atomics.add(ctl, ${FAILED}, 1);
}
Atomics.notify(ctl, ${STARTED});
let seen = generation;
while (gemm !== null) {
  Atomics.wait(ctl, ${GENERATION}, seen); // returns at once if the generation already moved on
  seen = Atomics.load(ctl, ${GENERATION});
  if (Atomics.load(ctl, ${SHUTDOWN}) !== 0) break;
  if (Atomics.load(ctl, slot + ${ASSIGNED}) !== seen) continue; // this job is not ours
  const a = slot + ${ARGS};
  let status = 0;
  try {
    gemm(${GEMM_PARAMS.map((_, i) => `ctl[a + ${i}]`).join(", ")});
  } catch (error) {
    status = 1;
  }
  ctl[slot + ${STATUS}] = status;
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
}
`;

export class GemmWorkerPool {
  private workers: Worker[] = [];
  private control = GemmWorkerPool.newControlBlock();

  constructor(
    private readonly module: WasmModule,
    private readonly memory: WasmMemory,
  ) {}

  private static newControlBlock(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(4 * (HEADER_SLOTS + (MAX_WORKERS + 1) * SLOT_SIZE)));
  }

  get size(): number {
    return this.workers.length;
  }

  /** Start workers until there are `count`, and wait (synchronously) until each has its wasm instance. */
  ensureWorkers(count: number): void {
    if (count > MAX_WORKERS) throw new RangeError(`at most ${MAX_WORKERS} worker threads`);
    if (this.workers.length >= count) return;
    const ctl = this.control;
    const expected = count;
    while (this.workers.length < count) {
      const index = this.workers.length + 1; // slot 0 is the calling thread's
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: [], // the worker needs no loader hooks (e.g. tsx's --import): plain JavaScript and wasm only
        workerData: { module: this.module, memory: this.memory, control: ctl.buffer, index, generation: Atomics.load(ctl, GENERATION) },
      });
      worker.unref();
      // A worker only fails outside its try blocks if Node itself fails; keep the process alive and let the
      // next call notice the missing worker instead of crashing on an unhandled 'error' event.
      worker.on("error", () => this.forget(worker));
      worker.on("exit", () => this.forget(worker));
      this.workers.push(worker);
    }
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const started = Atomics.load(ctl, STARTED);
      const failed = Atomics.load(ctl, FAILED);
      if (failed > 0) {
        this.shutdown();
        throw new Error("matmul worker thread could not instantiate the WebAssembly module");
      }
      if (started >= expected) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.shutdown();
        throw new Error("matmul worker threads did not start in time");
      }
      Atomics.wait(ctl, STARTED, started, Math.min(left, 1000));
    }
  }

  /**
   * Run `jobs[i]` on worker i+1 and `ownJob` on the calling thread, and return when all are done. Throws if a
   * worker's call trapped (e.g. an out-of-bounds access).
   */
  run(jobs: readonly GemmCallArgs[], ownJob: () => void): void {
    this.ensureWorkers(jobs.length);
    const ctl = this.control;
    const generation = (Atomics.load(ctl, GENERATION) + 1) | 0;
    jobs.forEach((args, i) => {
      const slot = HEADER_SLOTS + (i + 1) * SLOT_SIZE;
      for (let a = 0; a < args.length; a++) ctl[slot + ARGS + a] = args[a]!;
      ctl[slot + STATUS] = 0;
      Atomics.store(ctl, slot + ASSIGNED, generation);
    });
    Atomics.store(ctl, PENDING, jobs.length);
    Atomics.store(ctl, GENERATION, generation); // publishes the slots written above
    Atomics.notify(ctl, GENERATION);
    let ownError: unknown = null;
    try {
      ownJob();
    } catch (error) {
      ownError = error; // still wait for the workers: they are writing into the same memory
    }
    for (let pending = Atomics.load(ctl, PENDING); pending !== 0; pending = Atomics.load(ctl, PENDING)) {
      Atomics.wait(ctl, PENDING, pending);
    }
    if (ownError !== null) throw ownError;
    jobs.forEach((_, i) => {
      if (ctl[HEADER_SLOTS + (i + 1) * SLOT_SIZE + STATUS] !== 0) throw new Error(`matmul worker thread ${i + 1} failed`);
    });
  }

  /** End every worker. The pool can be used again afterwards (it starts new workers on demand). */
  shutdown(): void {
    const ctl = this.control;
    Atomics.store(ctl, SHUTDOWN, 1);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);
    for (const worker of this.workers) void worker.terminate();
    this.workers = [];
    this.control = GemmWorkerPool.newControlBlock(); // old workers keep seeing SHUTDOWN in the old block
  }

  private forget(worker: Worker): void {
    const i = this.workers.indexOf(worker);
    if (i < 0) return;
    // The survivors' slot numbers would no longer match their position: restart the pool cleanly.
    this.shutdown();
  }
}
