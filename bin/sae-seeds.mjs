#!/usr/bin/env node
// The `sae-seeds` command. In a checkout it runs the TypeScript source through tsx's loader, so the source you read
// is the code that runs; in an installed package (no src/, no tsx) it runs the compiled JavaScript in dist/.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import(new URL("../dist/cli/main.js", import.meta.url).href);
}
