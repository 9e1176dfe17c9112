/**
 * Training a sweep's runs in several processes at once, one run per process at a time.
 *
 * Why processes and not threads: small SAEs (the seed study's 128–512 latents, batch 64) spend their time in
 * single-threaded JavaScript (sparse decode and backward, Adam), which parallel matmul kernels cannot speed up;
 * two runs side by side use both cores. Worker threads cannot load this project's TypeScript under tsx, so the
 * pool forks the CLI itself (`sae-seeds _sweep-worker`) with the parent's loader flags.
 *
 * Determinism: a run's result depends only on its inputs (spec, condition, seed, activation cache) — never on
 * which process trains it, in which order, or at how many matmul threads (the kernels are bit-identical at every
 * thread count) — so the pool's dynamic scheduling cannot change a single bit of any SAE.
 */
import { fork, type ChildProcess } from "node:child_process";
import { loadActivationCache } from "../../data/activation_cache.ts";
import { applyThreads } from "../threads.ts";
import type { Claim } from "../../data/file_lock.ts";
import { conditionId, type Condition, type SweepSpec } from "./spec.ts";
import { makeEvaluation, trainRun, trainingContext, type Evaluation, type TrainingContext } from "./pipeline.ts";
import { loadModel } from "../../gpt2/loader.ts";

/** How to start another copy of this CLI: the script and the Node flags (e.g. tsx's loader) it was started with. */
export interface WorkerEntry {
  script: string;
  execArgv: string[];
}

/** The CLI process's own entry, for the CLI to hand to runSweep. */
export function currentCliEntry(): WorkerEntry {
  return { script: process.argv[1]!, execArgv: process.execArgv };
}

export interface PoolJob {
  condition: Condition;
  seed: number;
}

/** A job this process owns (its claim keeps other processes off it) until it releases it. */
export interface ClaimedJob {
  job: PoolJob;
  claim: Claim;
}

/** Where jobs come from: the next one claimed, "wait" while other processes own the rest, null when none is left. */
export interface JobSource {
  next(): ClaimedJob | "wait" | null;
}

/** What a worker needs to train runs: everything else it reads from the activation cache. */
export interface WorkerInit {
  spec: SweepSpec;
  outDir: string;
  cacheDir: string;
  /** The cache's content hash when the sweep started: a worker refuses a cache that changed since. */
  cacheSha256: string;
  receipts: Record<string, unknown>;
  threads: number;
  /** Quality metrics: the held-out windows (plain arrays, for the IPC channel) and the model the parent loaded. */
  evaluation?: { windows: { seqLen: number; nWindows: number; tokens: number[]; mask: number[]; kind: number[] }; modelSha256: string };
}

type ToWorker = { type: "init"; init: WorkerInit } | { type: "job"; job: PoolJob } | { type: "stop" };
type FromWorker = { type: "ready" } | { type: "done"; job: PoolJob; seconds: number } | { type: "failed"; job: PoolJob | null; message: string };

export interface PoolOptions {
  processes: number;
  entry: WorkerEntry;
  init: WorkerInit;
  log: (line: string) => void;
  /** How long a worker with nothing to do waits before asking the source again (ms). */
  pollMs: number;
  /** Called when the source says "wait" (other processes own the remaining jobs). */
  onWait?: () => void;
}

/**
 * Train the source's jobs across `processes` forked workers; resolves when the source is empty and every worker has
 * finished, rejects on the first failure. This process holds the claims (its event loop is free, so it keeps them
 * fresh while workers train) and releases each when its run ends.
 */
export function trainInProcesses(source: JobSource, options: PoolOptions): Promise<void> {
  const children: ChildProcess[] = [];
  const held = new Map<ChildProcess, ClaimedJob>();
  let finished = 0;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const heartbeat = setInterval(() => {
      for (const c of held.values()) c.claim.heartbeat();
    }, 15_000);
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearInterval(heartbeat);
      for (const c of held.values()) c.claim.release();
      held.clear();
      if (error) {
        for (const c of children) c.kill("SIGTERM");
        reject(error);
      } else {
        resolve();
      }
    };
    const feed = (child: ChildProcess) => {
      if (settled) return;
      let next: ClaimedJob | "wait" | null;
      try {
        next = source.next();
      } catch (e) {
        settle(e as Error);
        return;
      }
      if (next === "wait") {
        options.onWait?.();
        setTimeout(() => feed(child), options.pollMs);
      } else if (next === null) {
        child.send({ type: "stop" } satisfies ToWorker);
      } else {
        held.set(child, next);
        child.send({ type: "job", job: next.job } satisfies ToWorker);
      }
    };
    const count = Math.max(1, options.processes);
    let exited = 0;
    for (let w = 0; w < count; w++) {
      const child = fork(options.entry.script, ["_sweep-worker"], { execArgv: options.entry.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
      children.push(child);
      child.on("message", (raw) => {
        const m = raw as FromWorker;
        if (m.type === "ready") {
          child.send({ type: "init", init: options.init } satisfies ToWorker);
          feed(child);
        } else if (m.type === "done") {
          finished++;
          held.get(child)?.claim.release();
          held.delete(child);
          options.log(`${conditionId(m.job.condition)} seed ${m.job.seed} done in ${m.seconds.toFixed(1)}s (${finished} trained here, worker ${w + 1} of ${count})`);
          feed(child);
        } else {
          settle(new Error(m.job ? `${conditionId(m.job.condition)} seed ${m.job.seed}: ${m.message}` : m.message));
        }
      });
      child.on("exit", (code, signal) => {
        exited++;
        if (!settled && (code !== 0 || signal)) settle(new Error(`a training worker stopped unexpectedly (${signal ?? `exit code ${code}`}); rerun the sweep — finished runs are kept`));
        else if (exited === count) settle();
      });
      child.on("error", (e) => settle(new Error(`cannot start a training worker: ${e.message}`)));
    }
  });
}

const parentAtStart = process.ppid;
let lastParentCheck = 0;

/**
 * Training is one long synchronous loop, so a worker would not hear its parent die (kill -9) until the run ended —
 * possibly hours. Progress callbacks come every step; twice a second, check that the parent is still ours
 * (an orphan is re-parented) and stop at once if not. The run directory is left without a manifest, so a rerun
 * redoes that run cleanly.
 */
function exitIfOrphaned(): void {
  const now = performance.now();
  if (now - lastParentCheck < 500) return;
  lastParentCheck = now;
  if (process.ppid !== parentAtStart) process.exit(1);
}

/** A worker's training context: the cache it was told of (checked unchanged) and, for quality metrics, the same model. */
async function workerContext(init: WorkerInit): Promise<TrainingContext> {
  applyThreads(init.threads);
  const cache = loadActivationCache(init.cacheDir);
  if (cache.manifest.contentSha256 !== init.cacheSha256) throw new Error(`activation cache ${init.cacheDir} changed while the sweep ran; rerun the sweep`);
  let evaluation: Evaluation | undefined;
  if (init.evaluation) {
    const model = await loadModel({ model: init.spec.model, weightsDir: init.spec.weights });
    if (model.sha256 !== init.evaluation.modelSha256) throw new Error(`the model a training worker loaded (sha256 ${model.sha256.slice(0, 12)}…) is not the sweep's (${init.evaluation.modelSha256.slice(0, 12)}…); rerun the sweep`);
    const w = init.evaluation.windows;
    evaluation = makeEvaluation(model.weights, { seqLen: w.seqLen, nWindows: w.nWindows, tokens: Int32Array.from(w.tokens), mask: Uint8Array.from(w.mask), kind: Uint8Array.from(w.kind) });
  }
  return trainingContext(init.spec, init.outDir, cache, init.receipts, init.threads, evaluation);
}

/** The worker side: `sae-seeds _sweep-worker`, started by trainInProcesses, talking over the IPC channel. */
export async function runSweepWorker(): Promise<void> {
  if (!process.send) throw new Error("_sweep-worker is started by `sae-seeds sweep`, not by hand");
  const send = (m: FromWorker) => process.send!(m);
  let context: TrainingContext | null = null;
  await new Promise<void>((resolve) => {
    let stopping = false;
    process.on("disconnect", () => {
      if (!stopping) process.exit(1); // the parent went away between runs
    });
    // Messages are handled one after another (init loads a model asynchronously; a job must wait for it).
    let queue = Promise.resolve();
    const handle = async (m: ToWorker): Promise<void> => {
      if (m.type === "stop") {
        stopping = true;
        process.disconnect();
        resolve();
        return;
      }
      let job: PoolJob | null = null;
      try {
        if (m.type === "init") {
          context = await workerContext(m.init);
          return;
        }
        job = m.job;
        if (!context) throw new Error("worker got a job before its settings");
        const start = performance.now();
        trainRun(context, job.condition, job.seed, exitIfOrphaned);
        send({ type: "done", job, seconds: (performance.now() - start) / 1000 });
      } catch (e) {
        send({ type: "failed", job, message: (e as Error).message });
      }
    };
    process.on("message", (raw) => {
      queue = queue.then(() => handle(raw as ToWorker));
    });
    send({ type: "ready" });
  });
}
