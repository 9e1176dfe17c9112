/**
 * A sweep's worker process: forked by trainInProcesses (./run_pool.ts), it is told the sweep's settings once, then
 * trains the runs it is handed one at a time and says when each is done. It runs nothing when imported; it is started
 * as a program (`node sweep_worker.js`, or the .ts under tsx), talking only over the IPC channel.
 */
import { loadActivationCache } from "../data/activation_cache.ts";
import { loadModel, loadModelTokenizer } from "../gpt2/loader.ts";
import { applyThreads } from "./threads.ts";
import { makeEvaluation, trainRun, trainingContext, type Evaluation, type TrainingContext } from "./training_run.ts";
import { actsEvaluation } from "./acts_sweep.ts";
import type { FromWorker, PoolJob, ToWorker, WorkerInit } from "./run_pool.ts";

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
  if (init.evaluation && "heldOutRows" in init.evaluation) {
    evaluation = actsEvaluation(init.spec, cache) ?? undefined;
    if (evaluation?.sha256 !== init.evaluation.heldOutRows.sha256) throw new Error(`the held-out rows a training worker read from ${init.cacheDir} are not the sweep's; rerun the sweep`);
  } else if (init.evaluation) {
    const model = await loadModel({ model: init.spec.model, weightsDir: init.spec.weights });
    if (model.sha256 !== init.evaluation.modelSha256) throw new Error(`the model a training worker loaded (sha256 ${model.sha256.slice(0, 12)}…) is not the sweep's (${init.evaluation.modelSha256.slice(0, 12)}…); rerun the sweep`);
    const w = init.evaluation.windows;
    evaluation = makeEvaluation(model.weights, { seqLen: w.seqLen, nWindows: w.nWindows, tokens: Int32Array.from(w.tokens), mask: Uint8Array.from(w.mask), kind: Uint8Array.from(w.kind) });
  }
  return trainingContext(init.spec, init.outDir, cache, init.receipts, init.threads, evaluation, loadModelTokenizer({ model: init.spec.model, weightsDir: init.spec.weights }));
}

/** The worker side, started by trainInProcesses, talking over the IPC channel. */
async function runSweepWorker(): Promise<void> {
  if (!process.send) throw new Error("sweep_worker is started by a sweep with several processes (runSweep with processes > 1, or `sae-seeds sweep --processes N`), not by hand");
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

runSweepWorker().catch((e: Error) => {
  console.error(`sae-seeds sweep worker: ${e.message}`);
  process.exitCode = 1;
});
