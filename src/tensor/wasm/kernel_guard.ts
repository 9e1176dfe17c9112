/**
 * Bounds checks for WebAssembly kernel calls, made in JavaScript before a kernel runs.
 *
 * A kernel addresses its memory with raw byte offsets. If a caller hands it an address that is not inside what was
 * allocated or staged for it — a stale index, a capacity computed for one path and used by another, a view into
 * another memory — WebAssembly either traps with a bare "memory access out of bounds" (when the address lies past
 * the end of the memory) or, worse, silently reads or writes a neighbouring buffer. These checks turn both into
 * one error naming the kernel, the argument and the sizes.
 *
 *   MemoryRegions   the allocated and the per-call staged regions of one memory ([start, end) in bytes)
 *   checkPointer    an argument of `elements` 4-byte values at `address` lies inside one region
 *   checkIndexRange every value of an index array lies in [0, limit)
 *   checkMatrix     a rows×cols block with leading dimension ld at `address` lies inside one region
 *   checkOffsets    an offsets array (CSR row pointers) starts ≥ 0, never decreases, and ends ≤ its target's length
 *
 * Cost: integer comparisons, O(arguments × regions) per call for the pointers and O(entries) for the index arrays,
 * against the kernels' O(entries × d) floating-point work — a small fraction of a step (measured in the sae bench).
 */

export class KernelArgumentError extends RangeError {
  override name = "KernelArgumentError";
}

interface Region {
  readonly start: number;
  readonly end: number;
  readonly label: string;
}

/** The regions of one linear memory that kernels may touch: long-lived allocations, and per-call staging. */
export class MemoryRegions {
  private readonly allocated: Region[] = [];
  private staged: Region[] = [];

  /** A long-lived allocation (a view handed out to callers). */
  allocate(label: string, start: number, bytes: number): void {
    this.allocated.push({ start, end: start + bytes, label });
  }

  /** Replace the per-call staged regions (the previous call's copies are no longer valid arguments). */
  stage(regions: readonly { label: string; start: number; bytes: number }[]): void {
    this.staged = regions.map(({ label, start, bytes }) => ({ start, end: start + bytes, label }));
  }

  /** The region containing [start, end), or undefined. Staged regions first: they are what a call was given. */
  containing(start: number, end: number): Region | undefined {
    for (const list of [this.staged, this.allocated]) {
      for (const r of list) if (start >= r.start && end <= r.end) return r;
    }
    return undefined;
  }

  /** The region that contains `address` at all (for the message when [address, end) sticks out of it). */
  around(address: number): Region | undefined {
    for (const list of [this.staged, this.allocated]) {
      for (const r of list) if (address >= r.start && address < r.end) return r;
    }
    return undefined;
  }
}

/**
 * `elements` 4-byte values at byte `address` must lie inside one region of `regions` (and inside the memory of
 * `memoryBytes`). `elements` 0 is always valid (nothing is touched), as is address 0 when `nullable` (the kernels'
 * "no bias"/"no accumulation" convention).
 */
export function checkPointer(
  kernel: string, argument: string, address: number, elements: number, regions: MemoryRegions, memoryBytes: number,
  nullable = false, elementBytes = 4,
): void {
  if (nullable && address === 0) return;
  if (!Number.isSafeInteger(address) || address < 0 || !Number.isSafeInteger(elements) || elements < 0) {
    throw new KernelArgumentError(`${kernel}: argument ${argument} has address ${address} and ${elements} elements, not non-negative integers`);
  }
  if (elements === 0) return;
  if (address % elementBytes !== 0) throw new KernelArgumentError(`${kernel}: argument ${argument} at byte ${address} is not ${elementBytes}-byte aligned`);
  const end = address + elementBytes * elements;
  if (end > memoryBytes) {
    throw new KernelArgumentError(`${kernel}: argument ${argument} needs bytes [${address}, ${end}) (${elements} values) but the memory holds ${memoryBytes} bytes`);
  }
  if (regions.containing(address, end)) return;
  const near = regions.around(address);
  const where = near
    ? `it starts inside "${near.label}" ([${near.start}, ${near.end}), ${(near.end - near.start) / elementBytes} values) and runs ${(end - near.end) / elementBytes} values past its end`
    : "no allocated or staged region contains its start";
  throw new KernelArgumentError(`${kernel}: argument ${argument} needs bytes [${address}, ${end}) (${elements} values): ${where}`);
}

/**
 * A rows×cols block of `elementBytes`-byte values (4 unless given: float32; 2 for 16-bit codes), row r starting ld
 * values after row r − 1, at byte `address`: see checkPointer.
 */
export function checkMatrix(
  kernel: string, argument: string, address: number, rows: number, cols: number, ld: number, regions: MemoryRegions, memoryBytes: number,
  elementBytes = 4,
): void {
  if (rows === 0 || cols === 0) return;
  if (cols > ld && rows > 1) throw new KernelArgumentError(`${kernel}: argument ${argument} has ${cols} columns but a leading dimension of ${ld}`);
  checkPointer(kernel, argument, address, (rows - 1) * ld + cols, regions, memoryBytes, false, elementBytes);
}

/** Every value of `values` must be an index in [0, limit) (`what` names what it indexes, for the message). */
export function checkIndexRange(kernel: string, argument: string, values: Int32Array, limit: number, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < 0 || v >= limit) {
      throw new KernelArgumentError(`${kernel}: argument ${argument}[${i}] = ${v} is outside [0, ${limit}) (${what}); ${values.length} entries`);
    }
  }
}

/**
 * An offsets array (CSR/CSC pointers): offsets[0] ≥ 0, non-decreasing, and the last value ≤ `targetLength`, the
 * number of entries staged in the array it points into.
 */
export function checkOffsets(kernel: string, argument: string, offsets: Int32Array, targetLength: number, target: string): void {
  if (offsets.length === 0) throw new KernelArgumentError(`${kernel}: argument ${argument} is empty (it needs one more entry than the rows or latents it covers)`);
  if (offsets[0]! < 0) throw new KernelArgumentError(`${kernel}: argument ${argument}[0] = ${offsets[0]} is negative`);
  for (let i = 1; i < offsets.length; i++) {
    if (offsets[i]! < offsets[i - 1]!) throw new KernelArgumentError(`${kernel}: argument ${argument} decreases at ${i} (${offsets[i - 1]} then ${offsets[i]}): the index is stale or corrupt`);
  }
  const last = offsets[offsets.length - 1]!;
  if (last > targetLength) {
    throw new KernelArgumentError(`${kernel}: argument ${argument} ends at ${last} but ${target} holds ${targetLength} entries (a stale index: the code was reset without being filled, or its capacity changed)`);
  }
}
