/**
 * The download path against a local stand-in for the hub on 127.0.0.1: it answers the resolve URLs the way the
 * hub does (range probe with Content-Range and X-Linked-ETag = sha256 for LFS files, then the full body).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadModel, DownloadError } from "../src/gpt2/hub.ts";
import { loadCheckpoint } from "../src/gpt2/loader.ts";

const FIXTURE = join(import.meta.dirname, "fixtures", "gpt2_tiny");
const files: Record<string, Buffer> = {
  "config.json": readFileSync(join(FIXTURE, "config.json")),
  "model.safetensors": readFileSync(join(FIXTURE, "model.safetensors")),
};
let corrupt = false;
let requests = 0;
let server: Server;
let hubUrl = "";

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    const m = /^\/openai-community\/([^/]+)\/resolve\/main\/(.+)$/.exec(req.url ?? "");
    const body = m && m[1] === "tiny" ? files[m[2]!] : undefined;
    if (!body) {
      res.writeHead(404, { "X-Error-Code": "EntryNotFound" });
      res.end("not found");
      return;
    }
    const isLfs = m![2] === "model.safetensors";
    const etag = isLfs ? `"${createHash("sha256").update(body).digest("hex")}"` : `"${createHash("sha1").update(body).digest("hex")}"`;
    const headers: Record<string, string> = { ETag: etag, ...(isLfs ? { "X-Linked-ETag": etag, "X-Linked-Size": String(body.length) } : {}) };
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "");
    if (range) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${body.length}`, "Content-Length": String(end - start + 1) });
      res.end(body.subarray(start, end + 1));
      return;
    }
    const payload = corrupt && isLfs ? Buffer.concat([body.subarray(0, 100), Buffer.from([body[100]! ^ 0xff]), body.subarray(101)]) : body;
    res.writeHead(200, { ...headers, "Content-Length": String(payload.length) });
    res.end(payload);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address() as { port: number };
  hubUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

describe("hub download (local stand-in server)", () => {
  it("downloads, verifies size and sha256, reports progress, and the result loads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hub-"));
    const progress: number[] = [];
    const got = await downloadModel({ model: "tiny", dir, hubUrl, onProgress: (f, d) => f === "model.safetensors" && progress.push(d) });
    expect(got.map((g) => g.downloaded)).toEqual([true, true]);
    expect(got[1]!.verifiedHash).toBe(true);
    expect(progress.at(-1)).toBe(files["model.safetensors"]!.length);
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"]);
    expect((await loadCheckpoint(dir)).sha256).toBe(got[1]!.sha256);
    // Present and identical: not downloaded again.
    const before = requests;
    const again = await downloadModel({ model: "tiny", dir, hubUrl });
    expect(again.map((g) => g.downloaded)).toEqual([false, false]);
    expect(requests - before).toBe(2); // only the two metadata probes
  });

  it("a corrupted body fails the sha256 check and leaves neither the file nor a temp file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hub-"));
    corrupt = true;
    try {
      await expect(downloadModel({ model: "tiny", dir, hubUrl })).rejects.toThrow(/does not match the hub's/);
    } finally {
      corrupt = false;
    }
    expect(readdirSync(dir)).toEqual(["config.json"]);
  });

  it("a missing repository gives a clear error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hub-"));
    await expect(downloadModel({ model: "nope", dir, hubUrl })).rejects.toThrow(DownloadError);
    await expect(downloadModel({ model: "nope", dir, hubUrl })).rejects.toThrow(/has no config.json/);
  });
});
