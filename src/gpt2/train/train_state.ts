/**
 * Resumable training state on disk: ONE safetensors file with the parameters and AdamW's two moments (float32,
 * the exact bits in memory) and, as JSON metadata, the spec, the step, the loss curve and the evaluations. The
 * data position needs no storage: the batch of step s is a pure function of (seed, s) (see ./trainer.ts).
 *
 * Written to a temporary name and renamed (writeSafetensors), so after a crash or kill -9 the file is either the
 * previous checkpoint or the new one, never half of one. A resumed run is bit-identical to an uninterrupted one
 * (tested with hashes).
 */
import { existsSync } from "node:fs";
import { openSafetensors, writeSafetensors } from "../safetensors.ts";
import type { LMTrainSpec, TrainingRecord } from "./train_spec.ts";

export interface TrainState {
  spec: LMTrainSpec;
  /** Steps completed (the next step to run). */
  step: number;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  record: TrainingRecord;
}

export interface TrainStateStore {
  readonly path: string;
  /** Save the state (whole or not at all). */
  save(state: TrainState): void;
  /** The saved state, or null when there is none. */
  load(): TrainState | null;
}

const META_KEY = "sae_seeds_lm_training_state";

/** A train state store in one safetensors file at `path`. */
export function fileTrainStateStore(path: string): TrainStateStore {
  return {
    path,
    save(state) {
      const n = state.params.length;
      writeSafetensors(path, {
        params: { dtype: "F32", shape: [n], data: state.params },
        "adamw.m": { dtype: "F32", shape: [n], data: state.m },
        "adamw.v": { dtype: "F32", shape: [n], data: state.v },
      }, { [META_KEY]: JSON.stringify({ spec: state.spec, step: state.step, record: state.record }) });
    },
    load() {
      if (!existsSync(path)) return null;
      const file = openSafetensors(path);
      try {
        const raw = file.metadata()[META_KEY];
        if (!raw) throw new Error(`${path} is not a train-lm checkpoint (no ${META_KEY} metadata); move it away or delete it to start over`);
        const meta = JSON.parse(raw) as { spec: LMTrainSpec; step: number; record: TrainingRecord };
        return { spec: meta.spec, step: meta.step, record: meta.record, params: file.readFloat32("params"), m: file.readFloat32("adamw.m"), v: file.readFloat32("adamw.v") };
      } finally {
        file.close();
      }
    },
  };
}
