// `advfree methods`: the registered training methods, their short forms, options and declared passes per
// minibatch, as text or as the markdown table of docs/methods.md (tests check the docs show exactly this table).
import { declaredCost, methodNorms, METHODS, resolveMethod, shortPattern } from '../adversarial/registry.js';
import { flagName, formatDefault } from '../adversarial/options.js';
import type { MethodDescriptor } from '../adversarial/method.js';
import { command, type FlagSet } from './args.js';
import { formatPasses } from '../train/report.js';

const options = (d: MethodDescriptor): string =>
  Object.entries(d.options)
    .map(([k, s]) => `--${flagName(k)} ${formatDefault(s)}`)
    .join(', ') || '–';

/**
 * The methods as a markdown table: name, short form, summary, the threat models' norms it supports, options with
 * defaults (step sizes at CIFAR's eps 8/255 where they follow eps), passes per minibatch at the defaults.
 */
export function methodsTable(): string {
  const rows = METHODS.map(
    (d) =>
      `| ${d.name} | ${shortPattern(d)} | ${d.summary} | ${methodNorms(d).join(', ')} | ${options(d)} | ${formatPasses(declaredCost(resolveMethod({ name: d.name })))} |`,
  );
  return [
    '| method | short form | what it does | --norm | options (defaults) | passes per minibatch (defaults) |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

export const methods = command({
  name: 'methods',
  summary: 'list the training methods: short forms, options, declared passes per minibatch',
  flags: { markdown: { type: 'boolean', help: 'print the markdown table of docs/methods.md' } } satisfies FlagSet,
  async run(flags) {
    if (flags.markdown) console.log(methodsTable());
    else
      for (const d of METHODS)
        console.log(
          `${shortPattern(d).padEnd(14)}${d.summary}\n${' '.repeat(14)}--norm ${methodNorms(d).join(', ')}; options: ${options(d)}`,
        );
    return 0;
  },
});
