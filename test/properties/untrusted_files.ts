/**
 * Properties of the readers of untrusted files — other libraries' checkpoints and other models' activations:
 * whatever the bytes, a reader returns data or throws its own one-line error; it never runs code, never throws
 * anything else (a RangeError, a stack overflow) and never allocates beyond the input.
 * Shared by test/torch_checkpoint.test.ts, test/import_acts.test.ts (bounded) and tools/fuzz.ts (as long as asked).
 *
 *   pickleMutation   torch.save's data.pkl with bytes overwritten and cut: a value or a PickleError
 *   pickleStream     random streams of pickle opcodes, dangerous ones (os.system, exec, NEWOBJ, INST, …) among them:
 *                    a stream that returns a value stopped before any dangerous piece
 *   checkpointFile   a whole torch.save file mutated and truncated: a TorchFileError, or tensors that read or fail
 *                    with a TorchFileError
 *   npyFile          a .npy file mutated and truncated: an NpyError, or rows that read
 */
import fc from "fast-check";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { interpretPickle, PickleError } from "../../src/gpt2/torch_pickle.ts";
import { openTorchCheckpoint, readTorchStateDict, TorchFileError } from "../../src/gpt2/torch_zip.ts";
import { openNpy, NpyError } from "../../src/data/npy.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures");
const tmp = mkdtempSync(join(tmpdir(), "untrusted-"));

const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};
const op = (...b: number[]) => Uint8Array.from(b);
const str = (s: string) => {
  const t = new TextEncoder().encode(s);
  return Uint8Array.from([0x58, t.length & 0xff, (t.length >> 8) & 0xff, 0, 0, ...t]);
};
const globalOp = (module: string, name: string) => cat(op(0x63), new TextEncoder().encode(`${module}\n${name}\n`));

function statePickle(): Uint8Array {
  const ck = openTorchCheckpoint(join(FIXTURES, "torch_checkpoints", "state_dict.pt"));
  try {
    return ck.readRecord(ck.records().find((r) => r.name.endsWith("data.pkl"))!.name);
  } finally {
    ck.close();
  }
}

const edits = (length: number) => fc.array(fc.tuple(fc.nat(length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 });

const GOOD_PICKLE = statePickle();
export const pickleMutationCase = fc.tuple(edits(GOOD_PICKLE.length), fc.integer({ min: 1, max: GOOD_PICKLE.length }));
export function checkPickleMutation([changes, cut]: [[number, number][], number]): void {
  const b = GOOD_PICKLE.slice(0, cut);
  for (const [i, v] of changes) if (i < b.length) b[i] = v;
  try {
    interpretPickle(b);
  } catch (e) {
    if (!(e instanceof PickleError)) throw e;
    if ((e as Error).message.includes("\n")) throw new Error(`a refusal of more than one line: ${(e as Error).message}`);
  }
}

const PIECES = [
  op(0x28), op(0x29), op(0x74), op(0x85), op(0x86), op(0x5d), op(0x61), op(0x65), op(0x7d), op(0x73), op(0x75), op(0x4e), op(0x88),
  op(0x4b, 3), op(0x71, 0), op(0x68, 0), op(0x94), op(0x52), op(0x62), op(0x51), op(0x30), op(0x32), str("storage"), str("cpu"),
  globalOp("collections", "OrderedDict"), globalOp("torch._utils", "_rebuild_tensor_v2"), globalOp("torch", "FloatStorage"),
  globalOp("os", "system"), globalOp("builtins", "exec"), globalOp("subprocess", "Popen"), op(0x81), op(0x92), op(0x69), op(0x6f), op(0x93),
  op(0x8c, 200), op(0x8d, 255, 255, 255, 255, 255, 255, 255, 0), op(0x2e),
];
const isDangerous = (p: Uint8Array) => [0x81, 0x92, 0x69, 0x6f].includes(p[0]!) || (p[0] === 0x63 && /^(os|builtins|subprocess)\n/.test(new TextDecoder().decode(p.subarray(1))));
export const pickleStreamCase = fc.array(fc.nat(PIECES.length - 1), { maxLength: 40 });
export function checkPickleStream(picks: number[]): void {
  const pieces = picks.map((i) => PIECES[i]!);
  try {
    interpretPickle(cat(op(0x80, 2), ...pieces));
  } catch (e) {
    if (!(e instanceof PickleError)) throw e;
    return;
  }
  // It returned a value: it must have stopped (STOP) before reaching any dangerous piece.
  const danger = pieces.findIndex(isDangerous), stop = pieces.findIndex((p) => p[0] === 0x2e);
  if (danger >= 0 && !(stop >= 0 && stop < danger)) throw new Error(`a stream with a dangerous piece at ${danger} returned a value`);
}

const GOOD_CHECKPOINT = new Uint8Array(readFileSync(join(FIXTURES, "torch_checkpoints", "plain_dict.pt")));
export const checkpointCase = fc.tuple(edits(GOOD_CHECKPOINT.length), fc.integer({ min: 1, max: GOOD_CHECKPOINT.length }));
export function checkCheckpoint([changes, cut]: [[number, number][], number]): void {
  const b = GOOD_CHECKPOINT.slice(0, cut);
  for (const [i, v] of changes) if (i < b.length) b[i] = v;
  const path = join(tmp, "mutated.pt");
  writeFileSync(path, b);
  try {
    const sd = readTorchStateDict(path);
    try {
      for (const t of sd.tensors.values()) {
        try {
          t.readFloat32();
        } catch (e) {
          if (!(e instanceof TorchFileError)) throw e;
        }
      }
    } finally {
      sd.close();
    }
  } catch (e) {
    if (!(e instanceof TorchFileError)) throw e;
    if (!(e as Error).message.startsWith(path)) throw new Error(`a refusal that does not name the file: ${(e as Error).message}`);
  }
}

const GOOD_NPY = new Uint8Array(readFileSync(join(FIXTURES, "npy", "v2_fortran_f2_be.npy")));
export const npyCase = fc.tuple(edits(GOOD_NPY.length), fc.integer({ min: 1, max: GOOD_NPY.length }));
export function checkNpy([changes, cut]: [[number, number][], number]): void {
  const b = GOOD_NPY.slice(0, cut);
  for (const [i, v] of changes) if (i < b.length) b[i] = v;
  const path = join(tmp, "mutated.npy");
  writeFileSync(path, b);
  try {
    const f = openNpy(path);
    try {
      f.readRows(0, f.rows);
    } finally {
      f.close();
    }
  } catch (e) {
    if (!(e instanceof NpyError)) throw e;
  }
}
