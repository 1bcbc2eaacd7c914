// Flag validation of the commands: bad values are rejected before any work with the valid range, defaults are
// filled in, every value is its flag's parser's (typed) result, and --help documents every flag with its default.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CliError,
  command,
  flagValue,
  helpText,
  parseCommand,
  type Command,
  type Flag,
  type FlagSet,
} from '../bin/args.js';
import { data } from '../bin/data.js';
import { attackSpecs, evaluate } from '../bin/eval.js';
import { train } from '../bin/train.js';
import { assertThrows } from './helpers.js';

const t = suite('cli');

const parse = <F extends FlagSet, R extends string>(cmd: Command<F, R>, ...argv: string[]) => parseCommand(cmd, argv);

t('train fills defaults and accepts pixel units, each value parsed once by its flag', () => {
  const f = parse(train, '--method', 'free', '--replays', '4', '--eps', '4/255', '--epochs', '8');
  if (f === 'help') throw new Error('unexpected help');
  assert.is(f.model, undefined, 'no default flag: the dataset names its model');
  assert.is(f.batch, 128, 'the default, parsed');
  assert.is(f.epochs, 8);
  assert.is(f.schedule, 'multistep');
  assert.is(f.eps, 4 / 255);
  assert.is(
    flagValue(f, 'replays'),
    '4',
    "a method option's flag stays text: the chosen method's declaration parses it",
  );
  assert.is(f.optimizer, 'sgd');
});

t('train rejects bad values naming the flag and the valid range', () => {
  assertThrows(() => parse(train, '--epochs', '0'), /--epochs/, /\[1, 10000\]/);
  assertThrows(() => parse(train, '--batch', '1.5'), /--batch/, /integer/);
  assertThrows(() => parse(train, '--lr', 'fast'), /--lr/, /\[0.000001, 10\]/);
  assertThrows(() => parse(train, '--schedule', 'linear'), /schedule/, /multistep/, /cosine/);
  assertThrows(() => parse(train, '--model', 'wrn-15-1'), /6n\+4/);
  // Bounded before any work: these used to segfault and to fail inside Dawn.
  assertThrows(
    () => parse(train, '--model', 'wrn-100000006-1'),
    /model 'wrn-100000006-1': depth 100000006 is over the limit of 1000/,
  );
  assertThrows(
    () => parse(train, '--model', 'wrn-16-1000000'),
    /model 'wrn-16-1000000': its tensors take 683 PB/,
    /over the 2\.15 GB \(2147483647 bytes\) a checkpoint can hold/,
  );
  assertThrows(
    () => parse(train, '--method', 'nosuch'),
    /--method/,
    /must be one of natural, /,
    /\bfree\b/,
    /\bpgd\b/,
    /\byopo\b/,
  );
  assertThrows(() => parse(train, '--eps', '2'), /--eps/, /\[0,1\]/, /8\/255/);
  assertThrows(() => parse(train, '--step-size', '-1/255'), /--step-size/);
  assertThrows(() => parse(train, '--decay-on', 'bn'), /--decay-on/, /'all' or 'weights'/);
  assertThrows(() => parse(train, '--optimizer', 'adamw'), /--optimizer must be one of sgd, adam, got 'adamw'/);
  assertThrows(() => parse(train, '--epoch', '3'), /train/, /epoch/);
  assertThrows(() => parse(train, 'cifar10'), /train/);
});

t('eval and data validate too; data takes the dataset as its argument', () => {
  assertThrows(() => parse(evaluate, '--attack', 'pgd,cw'), /--attack/, /unknown attack 'cw'/, /apgd-ce/);
  assertThrows(() => parse(evaluate, '--loss', 'l2'), /--loss/, /one of ce, cw/);
  assertThrows(() => parse(evaluate, '--limit', '0'), /--limit/);
  assertThrows(() => parse(evaluate, '--queries', '0'), /--queries/);
  assertThrows(() => parse(evaluate, '--attack', 'autoattack,aa'), /unknown attack 'aa'/, /aa-lite/);
  const e = parse(evaluate, '--attack', 'autoattack,square,apgd-dlr', '--queries', '300', '--apgd-steps', '40');
  if (e === 'help') throw new Error('unexpected help');
  // Each attack takes the flags of its own options (apgd-dlr has no query budget, autoattack and square no steps).
  assert.equal(
    attackSpecs(e).map((s) => s.config),
    [
      { name: 'autoattack', queries: 300 },
      { name: 'square', queries: 300 },
      { name: 'apgd-dlr', apgdSteps: 40, restarts: 1, apgdLimit: 0 },
    ],
  );
  const d = parse(data, 'cifar100');
  assert.ok(d !== 'help' && d.dataset === 'cifar100');
  assertThrows(
    () => parse(data, 'imagenet'),
    /--dataset/,
    /cifar10, cifar100, credit-g, fashion-mnist, lending-club, letter, mnist, spambase, synthetic/,
  );
  assertThrows(() => parse(data, 'cifar10', 'cifar100'), /one dataset at most/);
});

t('--help documents every flag with its default', () => {
  for (const cmd of [train, evaluate, data]) {
    const help = helpText(cmd);
    for (const [name, flag] of Object.entries(cmd.flags)) {
      assert.ok(help.includes(`--${name}`), `${cmd.name} --help lists --${name}`);
      const { default: def } = flag as Flag;
      if (def !== undefined) assert.ok(help.includes(`(default: ${def})`), `${cmd.name} --${name} default`);
    }
  }
});

t('a flag given twice is refused, naming both values, unless it is documented as repeatable', () => {
  assertThrows(
    () => parse(train, '--method', 'free', '--method', 'pgd'),
    /^train: --method given 2 times \('free', then 'pgd'\); give it once$/,
  );
  assertThrows(
    () => parse(train, '--lr', '0.1', '--epochs', '3', '--lr=0.2'),
    /^train: --lr given 2 times \('0\.1', then '0\.2'\); give it once$/,
  );
  assertThrows(() => parse(train, '--nesterov', '--nesterov'), /^train: --nesterov given 2 times; give it once$/);
  assertThrows(() => parse(evaluate, '--attack', 'pgd', '--attack', 'fgsm'), /^eval: --attack given 2 times/);
  const tag = command({
    name: 'tag',
    summary: 'a command with a repeatable flag',
    flags: {
      label: {
        type: 'string',
        help: 'a label',
        repeatable: true,
        parse: (v: string) => {
          if (!/^[a-z]+$/.test(v)) throw new CliError(`--label takes lower-case letters, got '${v}'`);
          return v.toUpperCase();
        },
      },
    } satisfies FlagSet,
    run: async () => 0,
  });
  const f = parse(tag, '--label', 'a', '--label', 'b');
  assert.ok(f !== 'help');
  assert.equal((f as Exclude<typeof f, 'help'>).label, ['A', 'B'], 'each value through the parser');
  assertThrows(() => parse(tag, '--label', 'a', '--label', 'B'), /--label takes lower-case letters, got 'B'/);
  assert.match(helpText(tag), /--label VALUE +a label \(may be given more than once\)/);
  // One value of a flag given once stays a plain value.
  const once = parse(train, '--lr', '0.2');
  assert.ok(once !== 'help' && once.lr === 0.2);
});

t.run();
