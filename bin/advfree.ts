// The `advfree` command line: dispatches to one module per command.
import { doctor } from './doctor.js';
import { demo } from './demo.js';
import { data } from './data.js';
import { evaluate } from './eval.js';
import { train } from './train.js';
import { experiment } from './experiment.js';
import { show } from './show.js';
import { methods } from './methods.js';
import { plot } from './plot.js';
import { bench } from './bench.js';
import { CliError, parseCommand, type AnyCommand } from './args.js';

const COMMANDS: Record<string, AnyCommand> = {
  train,
  eval: evaluate,
  show,
  plot,
  experiment,
  bench,
  methods,
  data,
  demo,
  doctor,
};

/** The command column is as wide as the longest name plus two spaces, so a summary never runs into its name. */
const NAME_WIDTH = Math.max(...Object.values(COMMANDS).map((c) => c.name.length)) + 2;

const USAGE = `advfree: adversarial training on a WebGPU engine

Usage: advfree <command> [flags]

Commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.name.padEnd(NAME_WIDTH)}${c.summary}`)
  .join('\n')}

Global flags (every command):
  --backend NAME   Dawn backend: vulkan, metal, d3d12 (env ADVFREE_BACKEND; default: Dawn's choice)
  --adapter NAME   pick the adapter whose name contains NAME (env ADVFREE_ADAPTER)
  -h, --help       help for the command

Run 'advfree <command> --help' for a command's flags.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) throw new CliError(`unknown command '${name}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
  const parsed = parseCommand(cmd, rest);
  if (parsed === 'help') return 0;
  return await cmd.run(parsed as never);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CliError) {
    console.error(`advfree: ${e.message}`);
    process.exitCode = 2;
  } else {
    console.error((e as Error).message ?? e);
    if (process.env.ADVFREE_DEBUG) console.error((e as Error).stack);
    process.exitCode = 1;
  }
}
