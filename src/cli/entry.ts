/** How this CLI process was started, so the Slurm jobs it writes run the same CLI with the same Node and loader flags. */
export interface CliEntry {
  script: string;
  execArgv: string[];
}

/** The script this process runs (src/cli/main.ts, bin/sae-seeds.mjs or dist/cli/main.js) and its Node flags. */
export function currentCliEntry(): CliEntry {
  return { script: process.argv[1]!, execArgv: process.execArgv };
}
