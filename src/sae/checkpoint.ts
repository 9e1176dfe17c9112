/**
 * Resumable training checkpoints on disk: one safetensors file holding every parameter tensor (the
 * architecture's extras included), Adam's moments and the dead-latent counters, with the rest of the state
 * (config, epoch, step, history, sparsity controller, architecture buffers) as JSON metadata.
 * Written to a temporary file and renamed, so a crash leaves either the previous checkpoint or the new one.
 */
import { existsSync } from "node:fs";
import { openSafetensors, writeSafetensors } from "../gpt2/safetensors.ts";
import type { CheckpointStore, TrainingState } from "./trainer.ts";
import { OptimizerState } from "./train_step.ts";
import { namedTensors, type SAEParams } from "./params.ts";
import { initialControl } from "./sparsity_control.ts";

/** A training checkpoint store in one safetensors file at `path` (written whole or not at all). */
export function fileCheckpointStore(path: string): CheckpointStore {
  return {
    save(state: TrainingState) {
      const tensors: Record<string, { dtype: "F32" | "F64"; shape: number[]; data: Float32Array | Float64Array }> = {};
      for (const [name, t] of namedTensors(state.params)) {
        const shape = name === "wEnc" || name === "wDec" ? [state.params.dSae, state.params.dIn] : [t.length];
        const adam = state.optimizer.stateFor(name, t.length);
        tensors[`param.${name}`] = { dtype: "F32", shape, data: t };
        tensors[`adam.${name}.m`] = { dtype: "F32", shape, data: adam.m };
        tensors[`adam.${name}.v`] = { dtype: "F32", shape, data: adam.v };
      }
      tensors["tokens_since_fired"] = { dtype: "F64", shape: [state.params.dSae], data: state.tokensSinceFired };
      const meta = {
        config: state.config, inputScale: state.inputScale, epoch: state.epoch, stepInEpoch: state.stepInEpoch,
        tokensSeen: state.tokensSeen, adamStep: state.optimizer.step, history: state.history, epochSums: state.epochSums,
        buffers: state.buffers, control: state.control, badSteps: state.badSteps,
        ...(state.divergenceYardstick !== undefined ? { divergenceYardstick: state.divergenceYardstick } : {}),
        ...(state.curve ? { curve: state.curve } : {}),
        extraParams: Object.keys(state.params.extra ?? {}).sort(),
      };
      writeSafetensors(path, tensors, { sae_seeds_training_state: JSON.stringify(meta) });
    },
    load() {
      if (!existsSync(path)) return null;
      const file = openSafetensors(path);
      try {
        const raw = file.metadata()["sae_seeds_training_state"];
        if (!raw) throw new Error(`${path} is not a sae-seeds training checkpoint (no sae_seeds_training_state metadata); delete it to start over`);
        const meta = JSON.parse(raw) as Pick<TrainingState, "config" | "inputScale" | "epoch" | "stepInEpoch" | "tokensSeen" | "history" | "epochSums"> & {
          adamStep: number; buffers?: TrainingState["buffers"]; control?: TrainingState["control"]; badSteps?: number; extraParams?: string[]; divergenceYardstick?: number; curve?: TrainingState["curve"];
        };
        const { dIn, dSae } = meta.config;
        const params: SAEParams = { dIn, dSae, wEnc: file.readFloat32("param.wEnc"), bEnc: file.readFloat32("param.bEnc"), wDec: file.readFloat32("param.wDec"), bDec: file.readFloat32("param.bDec") };
        const extras = meta.extraParams ?? [];
        if (extras.length > 0) params.extra = Object.fromEntries(extras.map((name) => [name, file.readFloat32(`param.${name}`)]));
        const optimizer = new OptimizerState(dIn, dSae, extras);
        optimizer.step = meta.adamStep;
        for (const [name, t] of namedTensors(params)) {
          const adam = optimizer.stateFor(name, t.length);
          adam.m.set(file.readFloat32(`adam.${name}.m`));
          adam.v.set(file.readFloat32(`adam.${name}.v`));
        }
        return {
          config: meta.config, params, optimizer, inputScale: meta.inputScale, epoch: meta.epoch, stepInEpoch: meta.stepInEpoch,
          tokensSeen: meta.tokensSeen, tokensSinceFired: file.readFloat64("tokens_since_fired"), history: meta.history, epochSums: meta.epochSums,
          buffers: meta.buffers ?? {}, control: meta.control ?? initialControl(meta.config), badSteps: meta.badSteps ?? 0,
          ...(typeof meta.divergenceYardstick === "number" ? { divergenceYardstick: meta.divergenceYardstick } : {}),
          ...(meta.curve ? { curve: meta.curve } : {}),
        };
      } finally {
        file.close();
      }
    },
  };
}
