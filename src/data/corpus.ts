/**
 * Corpora: a named list of documents with a sha256 over a canonical serialisation (length-prefixed ids and
 * texts), so a run can record exactly which text it saw. Sources: the embedded Brown Corpus, JSONL with a text
 * field, or plain text with one document per line.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { loadBrownDocuments } from "./brown.ts";

export interface CorpusDocument {
  id: string;
  text: string;
}

export interface Corpus {
  name: string;
  documents: CorpusDocument[];
  sha256: string;
}

/** A corpus that cannot be read or has no documents. */
export class CorpusError extends Error {
  override name = "CorpusError";
}

/** sha256 over every document's id and text, length-prefixed (what receipts and cache keys record). */
export function corpusHash(documents: readonly CorpusDocument[]): string {
  const h = createHash("sha256");
  for (const d of documents) {
    const id = Buffer.from(d.id, "utf8");
    const text = Buffer.from(d.text, "utf8");
    h.update(`${id.length}:`).update(id).update(`${text.length}:`).update(text);
  }
  return h.digest("hex");
}

function makeCorpus(name: string, documents: CorpusDocument[]): Corpus {
  if (documents.length === 0) throw new CorpusError(`corpus ${name} has no documents`);
  return { name, documents, sha256: corpusHash(documents) };
}

/** The Brown Corpus as a Corpus (500 documents, their ids and hash). */
export function loadBrownCorpus(): Corpus {
  return makeCorpus("brown", loadBrownDocuments().map((d) => ({ id: d.id, text: d.text })));
}

function readText(path: string): string {
  if (!existsSync(path)) throw new CorpusError(`corpus file ${path} does not exist`);
  return readFileSync(path, "utf8");
}

/** JSONL: one JSON object per line with a string `field`; ids are 1-based line numbers; blank lines skipped. */
export function loadJsonlCorpus(path: string, field = "text"): Corpus {
  const docs: CorpusDocument[] = [];
  readText(path).split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new CorpusError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const text = (obj as Record<string, unknown> | null)?.[field];
    if (typeof text !== "string") throw new CorpusError(`${path}:${i + 1}: missing string field "${field}"`);
    docs.push({ id: `line-${i + 1}`, text });
  });
  return makeCorpus(basename(path), docs);
}

/** Plain text: one document per non-empty line. */
export function loadTextCorpus(path: string): Corpus {
  const docs: CorpusDocument[] = [];
  readText(path).split("\n").forEach((line, i) => {
    if (line.trim() !== "") docs.push({ id: `line-${i + 1}`, text: line });
  });
  return makeCorpus(basename(path), docs);
}

/** "brown", a path ending in .jsonl, or any other path (plain text). */
export function loadCorpus(spec: string): Corpus {
  if (spec === "brown") return loadBrownCorpus();
  if (spec.endsWith(".jsonl")) return loadJsonlCorpus(spec);
  return loadTextCorpus(spec);
}
