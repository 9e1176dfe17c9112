/**
 * The seed study's corpus is fetched like the weights: from a pinned commit, verified by sha256, renamed into place
 * only when it matches. Tested against a raw-file server on 127.0.0.1 (GitHub cannot be reached here).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SEED_STUDY_CORPUS, CorpusDownloadError, downloadPinnedCorpus, locateStudyCorpus, pinnedUrl, sha256Of, sharedCorpusPath,
  type PinnedCorpusFile,
} from "../src/data/study_corpus.ts";
import { runCliAsync } from "./helpers/cli.ts";

const body = Buffer.from('{"text": "A sentence of our own."}\n{"text": "Another one."}\n');
const fixture: PinnedCorpusFile = { ...SEED_STUDY_CORPUS, name: "fixture", sha256: sha256Of(body), bytes: body.length, lines: 2 };

let server: Server;
let url = "";
let requests = 0;
/** What the server answers for each path (anything else is a 404). */
const served = new Map<string, Buffer>();

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    const content = served.get(req.url ?? "");
    if (!content) {
      res.writeHead(404);
      res.end("404: Not Found");
      return;
    }
    res.writeHead(200, { "Content-Length": String(content.length) });
    res.end(content);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

const pathOf = (file: PinnedCorpusFile) => new URL(pinnedUrl(file, "http://x")).pathname;

describe("the seed study's corpus", () => {
  it("is pinned to the study platform's commit, path and sha256", () => {
    expect(SEED_STUDY_CORPUS).toMatchObject({
      repository: "ashlrai/mechanistic-interpretability", commit: "e1bf1aa5ac237049e03f253f50987237762652aa",
      path: "data/prompts/openwebtext_sample.jsonl", sha256: "8c6f31ff1023a97f4a28baf2419f440becbf48c030fb9ff608c8e222a3e0223b", lines: 98,
    });
    expect(pinnedUrl(SEED_STUDY_CORPUS)).toBe("https://raw.githubusercontent.com/ashlrai/mechanistic-interpretability/e1bf1aa5ac237049e03f253f50987237762652aa/data/prompts/openwebtext_sample.jsonl");
  });

  it("downloads, verifies and stores a pinned file; a verified copy is not fetched again", async () => {
    served.set(pathOf(fixture), body);
    const target = join(mkdtempSync(join(tmpdir(), "corpus-dl-")), "corpora", "fixture", "f.jsonl");
    const first = await downloadPinnedCorpus(fixture, { rawUrl: url, target });
    expect(first.downloaded).toBe(true);
    expect(readFileSync(target).equals(body)).toBe(true);
    const before = requests;
    const second = await downloadPinnedCorpus(fixture, { rawUrl: url, target });
    expect(second.downloaded).toBe(false);
    expect(requests).toBe(before);
  });

  it("refuses a body whose sha256 differs and keeps nothing", async () => {
    const altered: PinnedCorpusFile = { ...fixture, name: "altered", path: "data/altered.jsonl" };
    served.set(pathOf(altered), Buffer.concat([body, Buffer.from("x")]));
    const dir = mkdtempSync(join(tmpdir(), "corpus-bad-"));
    await expect(downloadPinnedCorpus(altered, { rawUrl: url, target: join(dir, "a.jsonl") })).rejects.toThrow(/sha256 .* is not the pinned .*nothing was kept/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("says in one line when the server cannot be reached or has no such file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corpus-404-"));
    const missing: PinnedCorpusFile = { ...fixture, path: "data/missing.jsonl" };
    await expect(downloadPinnedCorpus(missing, { rawUrl: url, target: join(dir, "m.jsonl") })).rejects.toThrow(/cannot download .*HTTP 404/);
    await expect(downloadPinnedCorpus(fixture, { rawUrl: "http://127.0.0.1:9", target: join(dir, "m.jsonl") })).rejects.toThrow(CorpusDownloadError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("is looked for at --corpus, then the download place, then ../shared; a corrupt copy is an error", () => {
    const dir = mkdtempSync(join(tmpdir(), "corpus-find-"));
    const places = { downloaded: join(dir, "dl.jsonl"), shared: join(dir, "shared.jsonl") };
    expect(locateStudyCorpus(undefined, fixture, places)).toBeNull();
    writeFileSync(places.shared, body);
    expect(locateStudyCorpus(undefined, fixture, places)).toEqual({ path: places.shared, origin: "shared" });
    writeFileSync(places.downloaded, body);
    expect(locateStudyCorpus(undefined, fixture, places)).toEqual({ path: places.downloaded, origin: "downloaded" });
    const mine = join(dir, "mine.jsonl");
    writeFileSync(mine, "{}\n");
    expect(locateStudyCorpus(mine, fixture, places)?.origin).toBe("explicit");
    expect(() => locateStudyCorpus(join(dir, "nope.jsonl"), fixture, places)).toThrow(/does not exist/);
    writeFileSync(places.downloaded, "tampered\n");
    expect(() => locateStudyCorpus(undefined, fixture, places)).toThrow(/is not the pinned fixture corpus/);
  });

  it("`replicate --faithful` in a clone without the corpus: a download of the wrong bytes is one error line and keeps nothing; offline says how to get it", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "replicate-corpus-"));
    served.set(pathOf(SEED_STUDY_CORPUS), Buffer.from('{"text": "not the study corpus"}\n'));
    const r = await runCliAsync(["replicate", "--faithful", "--model", "random", "--corpus-url", url, "--quiet"], { cwd });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/needed for --faithful: .*sha256 .* is not the pinned 8c6f31ff/);
    expect(existsSync(join(cwd, "corpora"))).toBe(false);
    const offline = await runCliAsync(["replicate", "--faithful", "--offline", "--model", "random"], { cwd });
    expect(offline.status).toBe(1);
    expect(offline.stderr).toMatch(/--offline forbids downloading it; get it with `npx tsx src\/cli\/main.ts download --corpus seed-study`/);
  });

  // The real file, served from loopback, where this machine has a copy to serve (a user's clone does not).
  const shared = sharedCorpusPath();
  it.skipIf(!existsSync(shared))(`\`download --corpus seed-study\` fetches and verifies the real pinned file (needs ${shared} to serve)`, async () => {
    served.set(pathOf(SEED_STUDY_CORPUS), readFileSync(shared));
    const cwd = mkdtempSync(join(tmpdir(), "download-corpus-"));
    mkdirSync(join(cwd, "sub"));
    const r = await runCliAsync(["download", "--corpus", "seed-study", "--corpus-url", url], { cwd });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/10643 bytes, sha256 8c6f31ff.*downloaded from/);
    expect(sha256Of(readFileSync(join(cwd, "corpora", "seed-study", "openwebtext_sample.jsonl")))).toBe(SEED_STUDY_CORPUS.sha256);
  });
});
