/**
 * Resumable training checkpoints on disk: one safetensors file holding the parameters, Adam's moments and
 * the dead-latent counters, with the rest of the state (config, epoch, step, history) as JSON metadata.
 * Written to a temporary file and renamed, so a crash leaves either the previous checkpoint or the new one.
 */
import { existsSync } from "node:fs";
import { openSafetensors, writeSafetensors } from "../gpt2/safetensors.ts";
import type { CheckpointStore, TrainingState } from "./trainer.ts";
import { OptimizerState } from "./train_step.ts";

const PARAM_KEYS = ["wEnc", "bEnc", "wDec", "bDec"] as const;

export function fileCheckpointStore(path: string): CheckpointStore {
  return {
    save(state: TrainingState) {
      const p = state.params;
      const tensors: Record<string, { dtype: "F32" | "F64"; shape: number[]; data: Float32Array | Float64Array }> = {};
      const shapes = { wEnc: [p.dSae, p.dIn], bEnc: [p.dSae], wDec: [p.dSae, p.dIn], bDec: [p.dIn] };
      for (const key of PARAM_KEYS) {
        tensors[`param.${key}`] = { dtype: "F32", shape: shapes[key], data: p[key] };
        tensors[`adam.${key}.m`] = { dtype: "F32", shape: shapes[key], data: state.optimizer[key].m };
        tensors[`adam.${key}.v`] = { dtype: "F32", shape: shapes[key], data: state.optimizer[key].v };
      }
      tensors["tokens_since_fired"] = { dtype: "F64", shape: [p.dSae], data: state.tokensSinceFired };
      const meta = {
        config: state.config, inputScale: state.inputScale, epoch: state.epoch, stepInEpoch: state.stepInEpoch,
        tokensSeen: state.tokensSeen, adamStep: state.optimizer.step, history: state.history, epochSums: state.epochSums,
      };
      writeSafetensors(path, tensors, { sae_seeds_training_state: JSON.stringify(meta) });
    },
    load() {
      if (!existsSync(path)) return null;
      const file = openSafetensors(path);
      try {
        const raw = file.metadata()["sae_seeds_training_state"];
        if (!raw) throw new Error(`${path} is not a sae-seeds training checkpoint (no sae_seeds_training_state metadata); delete it to start over`);
        const meta = JSON.parse(raw) as {
          config: TrainingState["config"]; inputScale: number; epoch: number; stepInEpoch: number; tokensSeen: number;
          adamStep: number; history: TrainingState["history"]; epochSums: TrainingState["epochSums"];
        };
        const { dIn, dSae } = meta.config;
        const optimizer = new OptimizerState(dIn, dSae);
        optimizer.step = meta.adamStep;
        const params = { dIn, dSae, wEnc: file.readFloat32("param.wEnc"), bEnc: file.readFloat32("param.bEnc"), wDec: file.readFloat32("param.wDec"), bDec: file.readFloat32("param.bDec") };
        for (const key of PARAM_KEYS) {
          optimizer[key].m.set(file.readFloat32(`adam.${key}.m`));
          optimizer[key].v.set(file.readFloat32(`adam.${key}.v`));
        }
        return {
          config: meta.config, params, optimizer, inputScale: meta.inputScale, epoch: meta.epoch, stepInEpoch: meta.stepInEpoch,
          tokensSeen: meta.tokensSeen, tokensSinceFired: file.readFloat64("tokens_since_fired"), history: meta.history, epochSums: meta.epochSums,
        };
      } finally {
        file.close();
      }
    },
  };
}
