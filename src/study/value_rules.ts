/**
 * The one set of value rules that command-line flags and sweep spec files share.
 *
 * Every setting is declared with its type and, where it has one, its domain (min/max, choices, no repeats), and
 * checked by `checkValue`, so `--epochs 0` and `epochs: 0` are refused by the same rule in the same words
 * ("<label> must be <rule>, got <value>"). The CLI's parser (cli/args.ts) converts a flag's text and checks it here;
 * spec files (./spec.ts) check their typed values here directly.
 */
export type FlagType = "string" | "int" | "number" | "boolean" | "list" | "ints";

export interface FlagSpec {
  type: FlagType;
  description: string;
  default?: FlagValue;
  /** Shown in --help as the default when the default lives elsewhere (a spec layer), not in `default`. */
  shownDefault?: string;
  /** int, number, ints: smallest allowed value (inclusive). */
  min?: number;
  /** number: values must be strictly greater than this. */
  above?: number;
  /** int, number, ints: largest allowed value (inclusive). */
  max?: number;
  /** string, list: the allowed values. */
  choices?: readonly string[];
  /** ints, list: no value may repeat. */
  unique?: boolean;
}

export type FlagValue = string | number | boolean | string[] | number[];
export type FlagValues = Record<string, FlagValue | undefined>;

/**
 * A setting outside its domain, or settings that do not fit together (a flag, a spec-file key, a sweep that does not
 * fit its model or corpus): the caller's to fix. The CLI exits with code 2 on it, as on any usage error.
 */
export class SettingsError extends Error {
  override name = "SettingsError";
}

/** The domain of a spec in words: "an integer ≥ 1", "a number > 0", "one of raw, centered", … */
export function ruleText(spec: FlagSpec): string {
  const bounds = (what: string) => {
    const parts: string[] = [];
    if (spec.above !== undefined) parts.push(`> ${spec.above}`);
    if (spec.min !== undefined) parts.push(`≥ ${spec.min}`);
    if (spec.max !== undefined) parts.push(`≤ ${spec.max}`);
    return parts.length ? `${what} ${parts.join(" and ")}` : what;
  };
  switch (spec.type) {
    case "int":
      return bounds("an integer");
    case "number":
      return bounds("a finite number");
    case "boolean":
      return "true or false";
    case "ints":
      return `a list of ${bounds("integers")}${spec.unique ? " without repeats" : ""} (e.g. 1,2,3 or 1-5)`;
    case "list":
      return spec.choices ? `a list of ${spec.choices.join(", ")}${spec.unique ? " without repeats" : ""}` : "a comma-separated list";
    case "string":
      return spec.choices ? `one of ${spec.choices.join(", ")}` : "a non-empty string";
  }
}

function show(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : JSON.stringify(value) ?? String(value);
}

function inBounds(spec: FlagSpec, v: number): boolean {
  return (spec.min === undefined || v >= spec.min) && (spec.max === undefined || v <= spec.max) && (spec.above === undefined || v > spec.above);
}

/**
 * Check a typed value (from a spec file, or a flag's text already converted) against a spec: returns it, or throws one
 * line "<label> must be <rule>, got <value>". `label` is "--epochs" for a flag, "sweep spec f.yaml: epochs" for a file.
 */
export function checkValue(label: string, spec: FlagSpec, value: unknown, shown: unknown = value): FlagValue {
  const fail = (): never => {
    throw new SettingsError(`${label} must be ${ruleText(spec)}, got ${show(shown)}`);
  };
  switch (spec.type) {
    case "int":
      if (typeof value !== "number" || !Number.isSafeInteger(value) || !inBounds(spec, value)) fail();
      return value as number;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value) || !inBounds(spec, value)) fail();
      return value as number;
    case "boolean":
      if (typeof value !== "boolean") fail();
      return value as boolean;
    case "string":
      if (typeof value !== "string" || value.trim() === "" || (spec.choices && !spec.choices.includes(value))) fail();
      return value as string;
    case "ints": {
      if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "number" && Number.isSafeInteger(v) && inBounds(spec, v))) fail();
      if (spec.unique && new Set(value as number[]).size !== (value as number[]).length) fail();
      return value as number[];
    }
    case "list": {
      if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v !== "" && (!spec.choices || spec.choices.includes(v)))) fail();
      if (spec.unique && new Set(value as string[]).size !== (value as string[]).length) fail();
      return value as string[];
    }
  }
}
