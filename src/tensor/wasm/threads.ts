/**
 * A pool of worker threads that run the wasm `gemm` on tasks of a product (slices of C, ./partition.ts), all on
 * one shared WebAssembly.Memory — and a synchronous way to use them.
 *
 * Why synchronous: matmul callers are plain numeric code, not async. Node lets the main thread block in
 * `Atomics.wait`, so a call writes the tasks into a small shared control block, wakes the workers with
 * `Atomics.notify`, takes tasks itself like any worker, then sleeps until the last worker reports. Tasks are
 * handed out by an atomic counter, first come first served: a thread slowed down by another process simply
 * takes fewer of them. (Which thread computes a task never changes its result; see ./partition.ts.)
 *
 * Control block (Int32Array over its own SharedArrayBuffer, so it never moves when the memory grows):
 *   header   GENERATION  job counter; workers sleep on it and wake when it changes
 *            PENDING     workers still busy with the current job; the last one to finish wakes the caller
 *            NEXT_TASK   the next task to hand out (Atomics.add); TASK_COUNT how many there are
 *            SHUTDOWN    set once to make every worker leave its loop
 *            STARTED     workers that have instantiated the module (or failed to: FAILED)
 *   slot w   ASSIGNED    the generation whose job worker w must join (so a late-waking worker can never join a
 *                        job twice, or one it was not given), STATUS, and WORKSPACE (its scratch address)
 * A worker also remembers the last generation it ran, and a wake-up that brings no new generation sends it back to
 * waiting: without that, a wake-up with no new job (the caller re-notifies while it waits, see awaitWorkers) would run
 * the last job again and count it twice.
 *   tasks    the `gemm` arguments of every task but the workspace
 *
 * Workers are started from a JavaScript source string (`eval: true`, no inherited execArgv): no TypeScript loader
 * is needed inside the worker, so this works the same under node, tsx and vitest. They are unref'd: an idle pool
 * never keeps the process alive, and Node ends them at exit; `shutdown()` ends them explicitly.
 */
import { Worker } from "node:worker_threads";
import { GEMM_PARAMS } from "./gemm_kernel.ts";
import type { WasmMemory, WasmModule } from "./wasm_api.ts";

/** The most workers one pool can hold, and the most tasks one job can have (the control block is sized for them). */
export const MAX_WORKERS = 255;
export const MAX_TASKS = 4096;

/** Int32 indices of the control block's header, of the fields inside a worker's slot, and of the task table. */
const GENERATION = 0;
const PENDING = 1;
const NEXT_TASK = 2;
const TASK_COUNT = 3;
const SHUTDOWN = 4;
const STARTED = 5;
const FAILED = 6;
const HEADER_SIZE = 8;
const ASSIGNED = 0;
const STATUS = 1; // 0 = every task this worker took ran, 1 = one threw
const WORKSPACE = 2;
const SLOT_SIZE = 4;
const slotOf = (worker: number): number => HEADER_SIZE + worker * SLOT_SIZE;
const TASK_SIZE = GEMM_PARAMS.length - 1;
if (GEMM_PARAMS[TASK_SIZE] !== "workspace") throw new Error("gemm's last parameter must be its workspace");
const taskOf = (task: number): number => slotOf(MAX_WORKERS + 1) + task * TASK_SIZE;
const CONTROL_SIZE = taskOf(MAX_TASKS);

/** How long a starting worker may take to instantiate the module before we give up on it. */
const START_TIMEOUT_MS = 30_000;
/** A job waiting this long for its workers says so, once (see awaitWorkers). */
const STUCK_WARNING_MS = 60_000;

function platformWarning(message: string): void {
  process.emitWarning(message, "WasmMatmulWarning");
}

/** The arguments of one `gemm` call but the last (GEMM_PARAMS order): everything but the workspace. */
export type GemmTask = readonly number[];
export type GemmFunction = (...args: number[]) => void;

const WORKER_SOURCE = `"use strict";
const { workerData } = require("node:worker_threads");
const { module, memory, control, index, generation } = workerData;
const ctl = new Int32Array(control);
const slot = ${slotOf(0)} + index * ${SLOT_SIZE};
let gemm = null;
try {
  gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
  Atomics.add(ctl, ${STARTED}, 1);
} catch (error) {
  Atomics.add(ctl, ${FAILED}, 1);
}
Atomics.notify(ctl, ${STARTED});
let seen = generation;
let done = generation; // the last generation this worker ran (or was created at): a job is never run twice
while (gemm !== null) {
  Atomics.wait(ctl, ${GENERATION}, seen); // returns at once if the generation already moved on
  seen = Atomics.load(ctl, ${GENERATION});
  if (Atomics.load(ctl, ${SHUTDOWN}) !== 0) break;
  if (seen === done) continue; // woken without a new job: waiting again is all there is to do
  if (Atomics.load(ctl, slot + ${ASSIGNED}) !== seen) continue; // this job is not ours
  done = seen;
  const workspace = ctl[slot + ${WORKSPACE}];
  const tasks = ctl[${TASK_COUNT}];
  let status = 0;
  try {
    for (let t = Atomics.add(ctl, ${NEXT_TASK}, 1); t < tasks; t = Atomics.add(ctl, ${NEXT_TASK}, 1)) {
      const a = ${taskOf(0)} + t * ${TASK_SIZE};
      gemm(${Array.from({ length: TASK_SIZE }, (_, i) => `ctl[a + ${i}]`).join(", ")}, workspace);
    }
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
    return new Int32Array(new SharedArrayBuffer(4 * CONTROL_SIZE));
  }

  get size(): number {
    return this.workers.length;
  }

  /** Start workers until there are `count`, and wait (synchronously) until each has its wasm instance. */
  ensureWorkers(count: number): void {
    if (count > MAX_WORKERS) throw new RangeError(`at most ${MAX_WORKERS} worker threads`);
    if (this.workers.length >= count) return;
    const ctl = this.control;
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
      if (started >= count) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.shutdown();
        throw new Error("matmul worker threads did not start in time");
      }
      Atomics.wait(ctl, STARTED, started, Math.min(left, 1000));
    }
  }

  /**
   * Run every task, on the calling thread and `workspaces.length - 1` workers (thread i uses scratch at
   * `workspaces[i]`), and return when all are done. Throws if a task trapped (e.g. an out-of-bounds access).
   */
  run(tasks: readonly GemmTask[], workspaces: readonly number[], gemm: GemmFunction): void {
    if (tasks.length > MAX_TASKS) throw new RangeError(`at most ${MAX_TASKS} tasks per product`);
    const workers = workspaces.length - 1;
    this.ensureWorkers(workers);
    const ctl = this.control;
    tasks.forEach((args, t) => ctl.set(args, taskOf(t)));
    Atomics.store(ctl, TASK_COUNT, tasks.length);
    Atomics.store(ctl, NEXT_TASK, 0);
    const generation = (Atomics.load(ctl, GENERATION) + 1) | 0;
    for (let w = 1; w <= workers; w++) {
      ctl[slotOf(w) + WORKSPACE] = workspaces[w]!;
      ctl[slotOf(w) + STATUS] = 0;
      Atomics.store(ctl, slotOf(w) + ASSIGNED, generation);
    }
    Atomics.store(ctl, PENDING, workers);
    Atomics.store(ctl, GENERATION, generation); // publishes everything written above
    Atomics.notify(ctl, GENERATION);

    let ownError: unknown = null;
    try {
      for (let t = Atomics.add(ctl, NEXT_TASK, 1); t < tasks.length; t = Atomics.add(ctl, NEXT_TASK, 1)) gemm(...tasks[t]!, workspaces[0]!);
    } catch (error) {
      ownError = error; // still wait for the workers: they are writing into the same memory
    }
    this.awaitWorkers(generation);
    if (ownError !== null) throw ownError;
    for (let w = 1; w <= workers; w++) {
      if (ctl[slotOf(w) + STATUS] !== 0) throw new Error(`matmul worker thread ${w} failed`);
    }
  }

  /**
   * Wait until every worker of this job has finished. Waits in steps of a second rather than once for ever, and
   * notifies the job again at each step: a worker that slept through the first notification (it has been seen, once,
   * under heavy load on a shared machine: the caller waiting here, the worker waiting for a job) is woken, and a job
   * it already ran it never runs twice (its `done` guard). A count below zero means the accounting is broken: one
   * error naming the state, never a silent wrong result. After STUCK_WARNING_MS, one warning with the state.
   */
  private awaitWorkers(generation: number): void {
    const ctl = this.control;
    const start = Date.now();
    let warned = false;
    for (let pending = Atomics.load(ctl, PENDING); pending !== 0; pending = Atomics.load(ctl, PENDING)) {
      if (pending < 0) throw new Error(`matmul thread pool: ${pending} workers pending for job ${generation} (the count went below zero); this is a bug — please report it`);
      if (Atomics.wait(ctl, PENDING, pending, 1000) === "timed-out") {
        Atomics.notify(ctl, GENERATION);
        if (!warned && Date.now() - start > STUCK_WARNING_MS) {
          warned = true;
          const slots = this.workers.map((_, i) => `worker ${i + 1} assigned job ${Atomics.load(ctl, slotOf(i + 1) + ASSIGNED)}`).join(", ");
          platformWarning(`matmul thread pool: job ${generation} has waited ${Math.round((Date.now() - start) / 1000)} s for ${pending} worker(s) (${slots}; tasks taken ${Atomics.load(ctl, NEXT_TASK)} of ${Atomics.load(ctl, TASK_COUNT)}); still waiting`);
        }
      }
    }
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
