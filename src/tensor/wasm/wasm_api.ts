/**
 * Types for the part of the JavaScript WebAssembly API this directory uses.
 *
 * The project compiles against lib ES2022 without the DOM library, where TypeScript's WebAssembly declarations
 * live, and @types/node does not declare them either. Rather than adding global declarations that could clash
 * with a future `lib: ["DOM"]`, we read the runtime object once through these local interfaces.
 */

export interface WasmMemoryDescriptor {
  initial: number;
  maximum?: number;
  shared?: boolean;
}

export interface WasmMemory {
  /** An ArrayBuffer, or a SharedArrayBuffer for shared memories; replaced by a longer one after `grow`. */
  readonly buffer: ArrayBufferLike;
  /** Add `pages` 64 KiB pages; returns the previous size in pages. */
  grow(pages: number): number;
}

/** A compiled module: can be instantiated many times, and posted to worker threads. */
export type WasmModule = object;

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export type WasmImports = Record<string, Record<string, unknown>>;

interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: WasmImports) => WasmInstance;
  Memory: new (descriptor: WasmMemoryDescriptor) => WasmMemory;
}

/** The runtime's WebAssembly object, or undefined where there is none. */
export const webAssembly: WebAssemblyApi | undefined = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;

/** The runtime's WebAssembly object; throws where there is none. */
export function requireWebAssembly(): WebAssemblyApi {
  if (webAssembly === undefined) throw new Error("this JavaScript runtime has no WebAssembly");
  return webAssembly;
}
