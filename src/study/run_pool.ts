/**
 * Training a sweep's runs in several processes at once, one run per process at a time.
 *
 * Why processes and not threads: small SAEs (the seed study's 128–512 latents, batch 64) spend their time in
 * single-threaded JavaScript (sparse decode and backward, Adam), which parallel matmul kernels cannot speed up;
 * two runs side by side use both cores. Worker threads cannot load this project's TypeScript under tsx, so the
 * pool forks processes: this layer's own worker module (./sweep_worker.ts, or sweep_worker.js in the built package)
 * with the parent's Node flags — plus tsx's loader when the worker is TypeScript and the parent did not start with
 * it (a sweep started from a test runner or from tsx's register() API) — so a script's sweep forks workers as the
 * CLI's does.
 *
 * Determinism: a run's result depends only on its inputs (spec, condition, seed, activation cache) — never on
 * which process trains it, in which order, or at how many matmul threads (the kernels are bit-identical at every
 * thread count) — so the pool's dynamic scheduling cannot change a single bit of any SAE.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Claim } from "../data/file_lock.ts";
import { conditionId, type Condition, type SweepSpec } from "./spec.ts";

/** How to start a worker process: the module that speaks the worker protocol (./sweep_worker.ts) and the Node flags it needs. */
export interface WorkerEntry {
  script: string;
  execArgv: string[];
}

/**
 * This layer's worker module beside this file (sweep_worker.ts from the sources, sweep_worker.js in dist/), started
 * with this process's Node flags; a TypeScript worker also gets tsx's loader unless those flags already load tsx.
 */
export function sweepWorkerEntry(): WorkerEntry {
  const here = fileURLToPath(import.meta.url);
  const script = join(dirname(here), `sweep_worker${extname(here)}`);
  // tsx's flags name it as a package ("--import tsx", "--import=tsx/esm") or by its files (".../tsx/dist/loader.mjs").
  const loadsTsx = process.execArgv.some((a) => /(^|[=\\/])tsx([\\/]|$)/.test(a));
  if (!script.endsWith(".ts") || loadsTsx) return { script, execArgv: process.execArgv };
  let loader: string;
  try {
    loader = createRequire(import.meta.url).resolve("tsx");
  } catch {
    throw new Error(`the sweep's worker module ${script} is TypeScript and tsx (its loader) cannot be found; run \`npm install\` in the sae-seeds checkout, use the built package, or train in one process (processes: 1)`);
  }
  return { script, execArgv: [...process.execArgv, "--import", pathToFileURL(loader).href] };
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
  evaluation?: { windows: { seqLen: number; nWindows: number; tokens: number[]; mask: number[]; kind: number[] }; modelSha256: string }
    /** A sweep on imported activations: the held-out rows the worker reads from the cache itself (checked by hash). */
    | { heldOutRows: { hook: string; T: number; sha256: string } };
}

/** Messages over the IPC channel, parent to worker and back. */
export type ToWorker = { type: "init"; init: WorkerInit } | { type: "job"; job: PoolJob } | { type: "stop" };
export type FromWorker = { type: "ready" } | { type: "done"; job: PoolJob; seconds: number } | { type: "failed"; job: PoolJob | null; message: string };

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
      const child = fork(options.entry.script, [], { execArgv: options.entry.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
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
