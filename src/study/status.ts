/**
 * Where a sweep stands, read from its run directories alone (no model, no cache): which runs are complete, which
 * failed and why, which are being trained right now and by whom, and which are missing — so after a cluster job a
 * user resubmits only what is not done. The spec-determined part of each finished run's identity is compared with
 * the spec (hyper-parameters, windowing, hook); the data hashes are compared when the sweep itself runs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { liveOwner, describeOwner } from "../data/file_lock.ts";
import { verifyManifest } from "./receipts.ts";
import { CHECKPOINT_FILE, CLAIM_FILE, FAILED_FILE, runDir, runIdentityFor } from "./run_one.ts";
import { identityDifferences, readIdentity } from "./run_identity.ts";
import { allRuns, shardRuns, type Shard } from "./shards.ts";
import { conditionId, type SweepSpec } from "./spec.ts";

export type StatusState = "complete" | "failed" | "running" | "missing" | "other-settings";

export interface RunStatus {
  run: string;
  dir: string;
  state: StatusState;
  detail: string;
}

/** Every run of a sweep (or of one shard): complete, failed, running, missing or made with other settings. */
export function sweepStatus(spec: SweepSpec, outDir: string, shard?: { shard: Shard; dIn: number }): RunStatus[] {
  const runs = shard ? shardRuns(spec, shard.dIn, shard.shard) : allRuns(spec);
  return runs.map(({ condition, seed }) => {
    const dir = runDir(outDir, condition, seed);
    const run = `${conditionId(condition)} seed ${seed}`;
    const status = (state: StatusState, detail = ""): RunStatus => ({ run, dir, state, detail });
    if (existsSync(join(dir, "manifest.json")) && verifyManifest(dir).ok) {
      const recorded = readIdentity(dir);
      if (!recorded) return status("other-settings", "no identity.json (made by a sae-seeds without run identities)");
      const r = recorded.identity;
      const expected = runIdentityFor(spec, condition, seed, {
        modelSha256: r.model.sha256, corpusSha256: r.corpus.sha256, activationsSha256: r.activations.sha256, rows: r.rows, dIn: r.train.dIn,
        ...(r.budget ? { realTokens: r.budget.realTokens } : {}),
        heldOutSha256: r.evaluation?.windowsSha256 ?? null,
      }).identity;
      const differences = identityDifferences(r, expected);
      return differences.length ? status("other-settings", differences.join("; ")) : status("complete");
    }
    const owner = liveOwner(join(dir, CLAIM_FILE));
    if (owner) return status("running", describeOwner(owner));
    if (existsSync(join(dir, FAILED_FILE))) {
      try {
        const failed = JSON.parse(readFileSync(join(dir, FAILED_FILE), "utf8")) as { error: string; host: string; at: string };
        return status("failed", `${failed.error} (on ${failed.host} at ${failed.at})`);
      } catch {
        return status("failed", "failed.json is unreadable");
      }
    }
    return status("missing", existsSync(join(dir, CHECKPOINT_FILE)) ? "a checkpoint is there: a rerun resumes it" : "");
  });
}

/** Run statuses for the terminal: a count per state, then every run that is not complete. */
export function formatStatus(statuses: RunStatus[]): string {
  const count = (s: StatusState) => statuses.filter((x) => x.state === s).length;
  const lines = statuses.filter((s) => s.state !== "complete").map((s) => `  ${s.state.padEnd(14)} ${s.run.padEnd(36)} ${s.detail}`);
  const summary = `${statuses.length} runs: ${count("complete")} complete, ${count("failed")} failed, ${count("running")} running, ${count("missing")} missing${count("other-settings") ? `, ${count("other-settings")} made with other settings` : ""}`;
  return [summary, ...lines].join("\n");
}
