#!/usr/bin/env -S npx tsx
/**
 * `sae-seeds`: the command line. Each sub-command lives in ./commands; this file only dispatches, prints help,
 * and turns every error into one line on stderr (set SAE_SEEDS_DEBUG=1 for the stack).
 */
import { parseArgs, helpText, SettingsError } from "./args.ts";
import type { Command } from "./command.ts";
import { predictCommand, generateCommand } from "./commands/predict.ts";
import { sweepCommand, planCommand, stabilityCommand } from "./commands/study.ts";
import { replicateCommand } from "./commands/replicate.ts";
import { cacheCommand, trainCommand, matchCommand } from "./commands/train_match.ts";
import { trainLmCommand } from "./commands/train_lm.ts";
import { downloadCommand } from "./commands/download.ts";
import { slurmCommand } from "./commands/slurm.ts";
import { importActsCommand } from "./commands/import_acts.ts";

const COMMANDS: Command[] = [replicateCommand, sweepCommand, planCommand, slurmCommand, stabilityCommand, cacheCommand, trainCommand, matchCommand, predictCommand, generateCommand, trainLmCommand, downloadCommand, importActsCommand];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "sae-seeds — are SAE features properties of a model, or of one training run?",
    "",
    "usage: npx tsx src/cli/main.ts <command> [flags]   (or: npm run cli -- <command> …)",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "`<command> --help` lists a command's flags.",
  ].join("\n");
}

/** Run one command line (without the program name); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(overview());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`sae-seeds: unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(", ")}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(helpText(command.name, command.summary, command.flags, command.usage));
    return 0;
  }
  try {
    await command.run(parseArgs(command.name, rest, command.flags));
    return 0;
  } catch (e) {
    const err = e as Error;
    if (process.env.SAE_SEEDS_DEBUG) console.error(err.stack);
    console.error(`sae-seeds ${command.name}: ${err.message}`);
    // Bad settings (a flag, a spec-file value, a sweep that does not fit its model or corpus) are the caller's to fix.
    return err instanceof SettingsError ? 2 : 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /(^|[\\/])(main\.[jt]s|sae-seeds(\.mjs)?)$/.test(process.argv[1]);
if (invokedDirectly || process.env.SAE_SEEDS_CLI === "1") {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
}
