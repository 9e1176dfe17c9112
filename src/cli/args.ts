/**
 * A strict command-line parser: every flag a command accepts is declared with its type, so an unknown flag,
 * a missing value or a malformed number is one clear error line naming the flag and what would be valid.
 */
export type FlagType = "string" | "int" | "number" | "boolean" | "list";

export interface FlagSpec {
  type: FlagType;
  description: string;
  default?: string | number | boolean | string[];
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export class UsageError extends Error {
  override name = "UsageError";
}

export interface ParsedArgs {
  flags: FlagValues;
  positionals: string[];
}

export function parseArgs(command: string, argv: readonly string[], specs: Record<string, FlagSpec>): ParsedArgs {
  const flags: FlagValues = {};
  const positionals: string[] = [];
  for (const [name, spec] of Object.entries(specs)) if (spec.default !== undefined) flags[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const spec = specs[name];
    if (!spec) {
      const valid = Object.keys(specs).map((n) => `--${n}`).join(", ");
      throw new UsageError(`unknown flag --${name} for \`sae-seeds ${command}\`; valid flags: ${valid || "(none)"}`);
    }
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
    flags[name] = convert(name, spec, raw);
  }
  return { flags, positionals };
}

function convert(name: string, spec: FlagSpec, raw: string): string | number | string[] {
  switch (spec.type) {
    case "string":
      return raw;
    case "list":
      return raw.split(",").map((s) => s.trim()).filter(Boolean);
    case "int": {
      if (!/^-?\d+$/.test(raw)) throw new UsageError(`--${name} must be an integer, got "${raw}"`);
      const v = Number(raw);
      if (!Number.isSafeInteger(v)) throw new UsageError(`--${name} is out of range: ${raw}`);
      return v;
    }
    case "number": {
      const v = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(v)) throw new UsageError(`--${name} must be a finite number, got "${raw}"`);
      return v;
    }
    default:
      throw new UsageError(`--${name}: unsupported flag type`);
  }
}

/** Integers from a comma list such as "1,2,3" or a range "1-5". */
export function parseIntList(name: string, values: string[]): number[] {
  const out: number[] = [];
  for (const v of values) {
    const range = /^(\d+)-(\d+)$/.exec(v);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a) throw new UsageError(`--${name}: range ${v} is backwards`);
      for (let i = a; i <= b; i++) out.push(i);
    } else if (/^-?\d+$/.test(v)) {
      out.push(Number(v));
    } else {
      throw new UsageError(`--${name}: "${v}" is not an integer or a range like 1-5`);
    }
  }
  return out;
}

export function helpText(command: string, summary: string, specs: Record<string, FlagSpec>, usage = ""): string {
  const lines = [`sae-seeds ${command}${usage ? " " + usage : ""}`, "", summary, ""];
  for (const [name, spec] of Object.entries(specs)) {
    const def = spec.default !== undefined ? ` (default ${Array.isArray(spec.default) ? spec.default.join(",") : String(spec.default)})` : "";
    lines.push(`  --${name}${spec.type === "boolean" ? "" : " <" + spec.type + ">"}  ${spec.description}${def}`);
  }
  return lines.join("\n");
}
