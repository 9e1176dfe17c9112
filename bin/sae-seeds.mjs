#!/usr/bin/env node
// The `sae-seeds` command: runs the TypeScript CLI through tsx's loader, so the source you read is the code that runs.
import { register } from "tsx/esm/api";
register();
await import("../src/cli/main.ts");
