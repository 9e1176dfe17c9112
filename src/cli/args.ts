/**
 * A strict command-line parser over the value rules the study layer defines (../study/value_rules.ts).
 *
 * Every flag a command accepts is declared with its type and, where it has one, its domain (min/max, choices, no
 * repeats). An unknown flag, a missing value, a malformed number or a value outside its domain is one error line
 * naming the flag and what would be valid. Spec files (study/spec.ts) check their keys with the same FlagSpec and the
 * same `checkValue`, so `--epochs 0` and `epochs: 0` are refused by the same rule in the same words.
 *
 * A flag that is not given is absent from the result unless its spec has a `default`: callers that layer settings
 * (flag > spec file > preset > default) leave `default` out and test `!== undefined`, so 0 is a value, never "unset".
 */
import { checkValue, SettingsError, type FlagSpec, type FlagValue, type FlagValues } from "../study/value_rules.ts";

export { checkValue, ruleText, SettingsError, type FlagSpec, type FlagType, type FlagValue, type FlagValues } from "../study/value_rules.ts";

/** A command line the CLI cannot parse (unknown flag, a flag given twice, a missing value); exit code 2, as SettingsError. */
export class UsageError extends SettingsError {
  override name = "UsageError";
}

export interface ParsedArgs {
  flags: FlagValues;
  positionals: string[];
}

/** Integers from a comma list such as "1,2,3" or ranges "1-5"; NaN marks a piece that is neither (checkValue refuses it). */
function intsFromText(raw: string): number[] {
  return raw.split(",").map((s) => s.trim()).flatMap((piece) => {
    const range = /^(\d+)-(\d+)$/.exec(piece);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a || b - a > 1_000_000) return [NaN];
      return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    }
    return /^-?\d+$/.test(piece) ? [Number(piece)] : [NaN];
  });
}

/** A flag's text converted to its type and checked against its domain. */
export function convertFlag(name: string, spec: FlagSpec, raw: string): FlagValue {
  const label = `--${name}`;
  switch (spec.type) {
    case "string":
      return checkValue(label, spec, raw);
    case "list":
      return checkValue(label, spec, raw.split(",").map((s) => s.trim()), raw);
    case "ints":
      return checkValue(label, spec, intsFromText(raw), raw);
    case "int":
      return checkValue(label, spec, /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN, raw);
    case "number":
      return checkValue(label, spec, raw.trim() === "" ? NaN : Number(raw), raw);
    case "boolean":
      throw new UsageError(`${label}: booleans take no value`);
  }
}

export function parseArgs(command: string, argv: readonly string[], specs: Record<string, FlagSpec>): ParsedArgs {
  const flags: FlagValues = {};
  const positionals: string[] = [];
  const given = new Set<string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.default !== undefined) flags[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      const valid = Object.keys(specs).map((n) => `--${n}`).join(", ");
      throw new UsageError(`unknown flag --${name} for \`sae-seeds ${command}\`; valid flags: ${valid || "(none)"}`);
    }
    if (given.has(name)) throw new UsageError(`--${name} is given twice; give it once`);
    given.add(name);
    if (spec.type === "boolean") {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== "true" && v !== "false") throw new UsageError(`--${name} takes no value (or =true/=false), got "${v}"`);
        flags[name] = v === "true";
      } else {
        flags[name] = true;
      }
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined || (eq < 0 && raw.startsWith("--"))) throw new UsageError(`--${name} needs a value (${spec.description})`);
    flags[name] = convertFlag(name, spec, raw);
  }
  return { flags, positionals };
}

export function helpText(command: string, summary: string, specs: Record<string, FlagSpec>, usage = ""): string {
  const lines = [`sae-seeds ${command}${usage ? " " + usage : ""}`, "", summary, ""];
  for (const [name, spec] of Object.entries(specs)) {
    const shown = spec.shownDefault ?? (spec.default !== undefined ? (Array.isArray(spec.default) ? spec.default.join(",") : String(spec.default)) : undefined);
    const def = shown !== undefined ? ` (default ${shown})` : "";
    lines.push(`  --${name}${spec.type === "boolean" ? "" : " <" + spec.type + ">"}  ${spec.description}${def}`);
  }
  return lines.join("\n");
}
