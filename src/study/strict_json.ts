/**
 * JSON as RFC 8259 defines it, except that a key repeated inside one object is an error (JSON.parse keeps the last
 * one silently, so `{"epochs": 8, …, "epochs": 2}` would train 2 epochs with no word said). Spec files in YAML refuse
 * repeated keys too (yaml.ts); both name the line.
 */
export class StrictJsonError extends Error {
  override name = "StrictJsonError";
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function parseStrictJson(text: string): JsonValue {
  let i = 0;
  const lineOf = (at: number) => text.slice(0, at).split("\n").length;
  const fail = (what: string, at = i): never => {
    throw new StrictJsonError(`line ${lineOf(at)}: ${what}`);
  };
  const skip = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const expect = (c: string) => {
    if (text[i] !== c) fail(`expected "${c}"${i < text.length ? `, found "${text[i]}"` : " before the end"}`);
    i++;
  };
  const string = (): string => {
    const start = i;
    expect('"');
    for (;;) {
      if (i >= text.length) fail("unterminated string", start);
      const c = text[i]!;
      if (c === '"') break;
      if (c === "\\") i++;
      else if (c < " ") fail("control character in a string");
      i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string; // escapes, exactly as JSON defines them
  };
  const number = (): number => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail(`unexpected "${text[i]}"`);
    i += m![0].length;
    return Number(m![0]);
  };
  const value = (): JsonValue => {
    skip();
    const c = text[i];
    if (c === "{") {
      i++;
      const out: Record<string, JsonValue> = Object.create(null) as Record<string, JsonValue>;
      const seen = new Set<string>();
      skip();
      if (text[i] === "}") {
        i++;
        return { ...out };
      }
      for (;;) {
        skip();
        const at = i;
        const key = string();
        if (seen.has(key)) fail(`key "${key}" appears twice in the same object; keep one`, at);
        seen.add(key);
        skip();
        expect(":");
        out[key] = value();
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        expect("}");
        return { ...out };
      }
    }
    if (c === "[") {
      i++;
      const out: JsonValue[] = [];
      skip();
      if (text[i] === "]") {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        expect("]");
        return out;
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    if (c === undefined) fail("unexpected end of input");
    return number();
  };
  const result = value();
  skip();
  if (i < text.length) fail(`unexpected "${text[i]}" after the value`);
  return result;
}
