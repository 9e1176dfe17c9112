/**
 * Reading a Hugging Face config.json field by field: each getter names the file and the key when a value is missing
 * or of the wrong kind, so a bad config is one line saying what to fix.
 */
import { DecoderConfigError } from "../decoder/config.ts";

/** A parsed config.json object. */
export type ConfigJson = Record<string, unknown>;

export class ConfigFields {
  constructor(readonly json: ConfigJson, readonly file: string) {}

  private fail(key: string, what: string): never {
    throw new DecoderConfigError(`${this.file}: "${key}" ${what}`);
  }

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  /** A positive integer; `fallback` when the key is absent (required when no fallback is given). */
  positiveInt(key: string, fallback?: number): number {
    const v = this.json[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(key, "is missing");
      return fallback;
    }
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) this.fail(key, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }

  positiveNumber(key: string, fallback?: number): number {
    const v = this.json[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(key, "is missing");
      return fallback;
    }
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) this.fail(key, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A positive number or null (absent counts as `fallback`). */
  optionalPositiveNumber(key: string, fallback: number | null): number | null {
    const v = this.json[key];
    if (v === undefined) return fallback;
    if (v === null) return null;
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) this.fail(key, `must be a positive number or null, got ${JSON.stringify(v)}`);
    return v;
  }

  fraction(key: string, fallback: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "number" || !(v > 0 && v <= 1)) this.fail(key, `must be a number in (0, 1], got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "boolean") this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  string(key: string, fallback: string): string {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "string") this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** One of `allowed`, with a message listing them. */
  choice<T extends string>(key: string, fallback: T, allowed: readonly T[], why = ""): T {
    const v = this.string(key, fallback);
    if (!(allowed as readonly string[]).includes(v)) this.fail(key, `is "${v}"; supported: ${allowed.join(", ")}${why ? ` (${why})` : ""}`);
    return v as T;
  }

  object(key: string): ConfigJson | null {
    const v = this.json[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "object" || Array.isArray(v)) this.fail(key, `must be an object or null, got ${JSON.stringify(v)}`);
    return v as ConfigJson;
  }
}
