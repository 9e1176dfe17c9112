/**
 * A strict reader for the small part of YAML that sweep specs need — so a spec can be written by hand with
 * comments, without adding a YAML package to the dependencies.
 *
 * Accepted (indentation by spaces only):
 *   key: value                    block mapping; keys are plain words
 *   key:                          followed by a more-indented block (mapping or sequence)
 *   - value                       block sequence of scalars, of flow collections, or of mappings:
 *   - layer: 0                      a "- key: value" item continues with keys indented past the dash
 *     features: 128
 *   [1, 2, 3]   {layer: 0, k: 8}  flow sequences and mappings of scalars (nesting allowed)
 *   # comment                     whole-line or after a value (preceded by a space)
 * Scalars: integers and decimals (123, -4, 1e-3, 0.5) become numbers; true/false; null/~; '…' and "…" strings
 * (double-quoted ones take JSON escapes); anything else is a plain string.
 *
 * Everything else YAML can do (anchors, aliases, tags, multi-line strings, several documents, tabs, duplicate
 * keys) is rejected with an error naming the line, rather than read in some surprising way.
 */

export class YamlSubsetError extends Error {
  override name = "YamlSubsetError";
}

export type YamlValue = null | boolean | number | string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  number: number;
  indent: number;
  text: string;
}

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;
const KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** `names: "dotted"` also takes keys with dots and slashes (SAELens's release table: "gpt2-small-res-jb.v2"). */
const DOTTED_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.\/+-]*$/;

export interface YamlSubsetOptions {
  /** "plain" (default): letters, digits, _ and -; "dotted": also . / and +. */
  names?: "plain" | "dotted";
}
const UNSUPPORTED_START = /^[&*!|>%@`]/;

export function parseYamlSubset(source: string, file = "spec", options: YamlSubsetOptions = {}): YamlValue {
  const lines = toLines(source, file);
  if (lines.length === 0) return null;
  const parser = new BlockParser(lines, file, options.names === "dotted" ? DOTTED_KEY : KEY);
  const value = parser.block(lines[0]!.indent);
  if (parser.position < lines.length) parser.fail(lines[parser.position]!, "unexpected indentation");
  return value;
}

function toLines(source: string, file: string): Line[] {
  const out: Line[] = [];
  source.split(/\r?\n/).forEach((raw, index) => {
    const number = index + 1;
    const leading = /^[ \t]*/.exec(raw)![0];
    if (leading.includes("\t")) throw new YamlSubsetError(`${file}:${number}: indent with spaces, not tabs`);
    const text = stripComment(raw.slice(leading.length), file, number).trimEnd();
    if (text === "") return;
    if (text === "---" || text === "...") {
      if (out.length === 0 && text === "---") return;
      throw new YamlSubsetError(`${file}:${number}: only one YAML document per spec file`);
    }
    out.push({ number, indent: leading.length, text });
  });
  return out;
}

/** Removes a `#` comment that is not inside quotes (a comment must start the line or follow a space). */
function stripComment(text: string, file: string, number: number): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === "\\" && quote === '"') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === "#" && (i === 0 || text[i - 1] === " ")) {
      return text.slice(0, i);
    }
  }
  if (quote) throw new YamlSubsetError(`${file}:${number}: unterminated ${quote} string`);
  return text;
}

class BlockParser {
  position = 0;
  constructor(private readonly lines: Line[], private readonly file: string, private readonly keyRule: RegExp = KEY) {}

  fail(line: Line, message: string): never {
    throw new YamlSubsetError(`${this.file}:${line.number}: ${message} (near "${line.text}")`);
  }

  /** The block starting at the current line, whose lines sit at exactly `indent`. */
  block(indent: number): YamlValue {
    const first = this.lines[this.position]!;
    if (first.indent !== indent) this.fail(first, "unexpected indentation");
    if (first.text === "-" || first.text.startsWith("- ")) return this.sequence(indent);
    if (splitKey(first.text) !== null) return this.mapping(indent);
    this.position++;
    const value = parseInline(first.text, (m) => this.fail(first, m));
    return value;
  }

  private mapping(indent: number, seed?: { key: string; rest: string; line: Line }): YamlValue {
    const out: { [key: string]: YamlValue } = Object.create(null) as { [key: string]: YamlValue };
    const take = (key: string, rest: string, line: Line) => {
      if (!this.keyRule.test(key)) this.fail(line, `"${key}" is not a plain key (letters, digits, _ and -${this.keyRule === KEY ? "" : ", . / +"})`);
      if (Object.prototype.hasOwnProperty.call(out, key)) this.fail(line, `key "${key}" appears twice`);
      out[key] = rest === "" ? this.nested(indent) : parseInline(rest, (m) => this.fail(line, m));
    };
    if (seed) take(seed.key, seed.rest, seed.line);
    while (this.position < this.lines.length) {
      const line = this.lines[this.position]!;
      if (line.indent < indent) break;
      if (line.indent > indent) this.fail(line, "unexpected indentation");
      const pair = splitKey(line.text);
      if (pair === null) this.fail(line, "expected `key: value` in this mapping");
      this.position++;
      take(pair.key, pair.rest, line);
    }
    return { ...out };
  }

  /** The value of `key:` with nothing after the colon: a deeper block, or null when none follows. */
  private nested(parentIndent: number): YamlValue {
    const next = this.lines[this.position];
    if (next === undefined || next.indent <= parentIndent) {
      // A sequence may sit at the key's own indentation ("key:\n- a"), as YAML allows.
      if (next !== undefined && next.indent === parentIndent && (next.text === "-" || next.text.startsWith("- "))) {
        return this.sequence(parentIndent);
      }
      return null;
    }
    return this.block(next.indent);
  }

  private sequence(indent: number): YamlValue {
    const out: YamlValue[] = [];
    while (this.position < this.lines.length) {
      const line = this.lines[this.position]!;
      if (line.indent < indent) break;
      if (line.indent > indent) this.fail(line, "unexpected indentation");
      if (!(line.text === "-" || line.text.startsWith("- "))) break;
      this.position++;
      const rest = line.text.slice(1).trimStart();
      if (rest === "") {
        out.push(this.nested(indent));
        continue;
      }
      if (rest.startsWith("- ")) this.fail(line, "nested block sequences on one line are not supported; use [a, b]");
      const pair = splitKey(rest);
      if (pair !== null) {
        // "- key: value" starts a mapping whose further keys line up with `key`.
        const itemIndent = indent + (line.text.length - rest.length);
        out.push(this.mapping(itemIndent, { ...pair, line }));
      } else {
        out.push(parseInline(rest, (m) => this.fail(line, m)));
      }
    }
    return out;
  }
}

/** `key: rest` or `key:` → {key, rest}; anything else → null. Quoted or flow text is never a key. */
function splitKey(text: string): { key: string; rest: string } | null {
  if (/^["'[{]/.test(text)) return null;
  const match = /^([^:\s]+):(?:\s+(.*))?$/.exec(text);
  if (!match) return null;
  return { key: match[1]!, rest: (match[2] ?? "").trim() };
}

/** A scalar or a flow collection occupying the rest of a line. */
function parseInline(text: string, fail: (message: string) => never): YamlValue {
  const reader = new FlowReader(text, fail);
  const value = reader.value(false);
  reader.skipSpaces();
  if (!reader.done()) fail(`unexpected text after the value: "${text.slice(reader.index)}"`);
  return value;
}

class FlowReader {
  index = 0;
  constructor(private readonly text: string, private readonly fail: (message: string) => never) {}

  done(): boolean {
    return this.index >= this.text.length;
  }

  skipSpaces(): void {
    while (this.text[this.index] === " ") this.index++;
  }

  value(inFlow: boolean): YamlValue {
    this.skipSpaces();
    const ch = this.text[this.index];
    if (ch === "[") return this.flowSequence();
    if (ch === "{") return this.flowMapping();
    if (ch === '"' || ch === "'") return this.quoted(ch);
    return this.plain(inFlow);
  }

  private flowSequence(): YamlValue[] {
    const out: YamlValue[] = [];
    this.index++;
    this.skipSpaces();
    if (this.text[this.index] === "]") {
      this.index++;
      return out;
    }
    for (;;) {
      out.push(this.value(true));
      this.skipSpaces();
      const ch = this.text[this.index++];
      if (ch === "]") return out;
      if (ch !== ",") this.fail(`expected "," or "]" in a flow sequence`);
    }
  }

  private flowMapping(): { [key: string]: YamlValue } {
    const out: { [key: string]: YamlValue } = Object.create(null) as { [key: string]: YamlValue };
    this.index++;
    this.skipSpaces();
    if (this.text[this.index] === "}") {
      this.index++;
      return { ...out };
    }
    for (;;) {
      this.skipSpaces();
      const keyMatch = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(this.text.slice(this.index));
      if (!keyMatch) this.fail("expected a plain key in a flow mapping");
      const key = keyMatch[0];
      this.index += key.length;
      if (this.text[this.index] !== ":") this.fail(`expected ":" after "${key}"`);
      this.index++;
      if (Object.prototype.hasOwnProperty.call(out, key)) this.fail(`key "${key}" appears twice`);
      out[key] = this.value(true);
      this.skipSpaces();
      const ch = this.text[this.index++];
      if (ch === "}") return { ...out };
      if (ch !== ",") this.fail(`expected "," or "}" in a flow mapping`);
    }
  }

  private quoted(quote: string): string {
    const start = this.index;
    this.index++;
    while (this.index < this.text.length) {
      const ch = this.text[this.index]!;
      if (quote === '"' && ch === "\\") {
        this.index += 2;
        continue;
      }
      if (ch === quote) {
        if (quote === "'" && this.text[this.index + 1] === "'") {
          this.index += 2; // '' is an escaped single quote
          continue;
        }
        this.index++;
        const body = this.text.slice(start + 1, this.index - 1);
        if (quote === "'") return body.replace(/''/g, "'");
        try {
          return JSON.parse(`"${body}"`) as string;
        } catch {
          this.fail(`bad escape in the string "${body}"`);
        }
      }
      this.index++;
    }
    this.fail("unterminated string");
  }

  private plain(inFlow: boolean): YamlValue {
    const stop = inFlow ? /[,\]}]/ : null;
    let end = this.index;
    while (end < this.text.length && !(stop && stop.test(this.text[end]!))) end++;
    const raw = this.text.slice(this.index, end).trim();
    this.index = end;
    if (raw === "") this.fail(inFlow ? "empty item in a flow collection" : "missing value");
    if (UNSUPPORTED_START.test(raw)) this.fail(`"${raw}": anchors, aliases, tags and block strings are not supported`);
    if (/:\s/.test(raw) || raw.endsWith(":")) this.fail(`"${raw}": a mapping cannot start here; put it on its own line or use {key: value}`);
    if (raw === "true") return true;
    if (raw === "false") return false;
    if (raw === "null" || raw === "~") return null;
    if (NUMBER.test(raw)) return Number(raw);
    return raw;
  }
}
