/**
 * The download path against a local stand-in for the hub on 127.0.0.1: it answers the resolve URLs the way the
 * hub does (range probe with Content-Range and X-Linked-ETag = sha256 for LFS files, then the full body).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadModel, DownloadError } from "../src/gpt2/hub.ts";
import { loadCheckpoint } from "../src/gpt2/loader.ts";
import { startFakeHub, type FakeHub } from "./helpers/fake_hub.ts";

let hub: FakeHub;
let hubUrl = "";

beforeAll(async () => {
  hub = await startFakeHub(["tiny"]);
  hubUrl = hub.url;
});

afterAll(() => hub.close());

describe("hub download (local stand-in server)", () => {
  it("downloads, verifies size and sha256, reports progress, and the result loads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hub-"));
    const progress: number[] = [];
    const got = await downloadModel({ model: "tiny", dir, hubUrl, onProgress: (f, d) => f === "model.safetensors" && progress.push(d) });
    expect(got.map((g) => g.downloaded)).toEqual([true, true]);
    expect(got[1]!.verifiedHash).toBe(true);
    expect(progress.at(-1)).toBe(hub.files["model.safetensors"]!.length);
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"]);
    expect((await loadCheckpoint(dir)).sha256).toBe(got[1]!.sha256);
    // Present and identical: not downloaded again.
    const before = hub.requests();
    const again = await downloadModel({ model: "tiny", dir, hubUrl });
    expect(again.map((g) => g.downloaded)).toEqual([false, false]);
    expect(hub.requests() - before).toBe(2); // only the two metadata probes
  });

  it("a corrupted body fails the sha256 check and leaves neither the file nor a temp file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hub-"));
    hub.setCorrupt(true);
    try {
      await expect(downloadModel({ model: "tiny", dir, hubUrl })).rejects.toThrow(/does not match the hub's/);
    } finally {
      hub.setCorrupt(false);
    }
    expect(readdirSync(dir)).toEqual(["config.json"]);
  });

  it("a missing repository gives a clear error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hub-"));
    await expect(downloadModel({ model: "nope", dir, hubUrl })).rejects.toThrow(DownloadError);
    await expect(downloadModel({ model: "nope", dir, hubUrl })).rejects.toThrow(/has no config.json/);
  });
});
