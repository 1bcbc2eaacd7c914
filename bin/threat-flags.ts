// `--norm` and `--eps`, the threat model of every command that trains or attacks, in the dataset's input units and
// defaulting to the dataset's; eps is checked against the dataset's box before any work.
import { diameter, NORMS, type Norm, type ThreatSpec } from '../adversarial/threat.js';
import { fmtPixels, parsePixels } from '../adversarial/units.js';
import { findDataset, unitBox, type DatasetDescriptor } from '../data/index.js';
import { CliError, flagText, oneOf, type FlagSet } from './args.js';

export const THREAT_FLAGS = {
  norm: {
    type: 'string',
    help: `threat model: the norm of the perturbation ball, ${NORMS.join(' or ')} (default: the dataset's)`,
    parse: oneOf('norm', NORMS),
  },
  eps: {
    type: 'string',
    help: "threat model: the radius in the dataset's input units, a fraction like 8/255 or a decimal like 0.031 (default: the dataset's, 8/255 for CIFAR)",
    parse: (v: string) => parsePixels('eps', v, Infinity),
  },
} satisfies FlagSet;

/** What threatFromFlags reads: --norm, --eps and the dataset a command names. */
export interface ThreatFlags {
  norm?: Norm;
  eps?: number;
  data?: string;
}

/**
 * The threat model the flags give for `data` (--data's, or CIFAR-10 where none is named yet), its defaults the
 * dataset's; an eps beyond the [0, 1] box's diameter is a usage error (images lie in [0, 1] and tabular features are
 * scaled to it; the box of the data read is checked again when the threat model is built).
 */
export function threatFromFlags(
  flags: ThreatFlags,
  data: DatasetDescriptor = findDataset(flags.data ?? 'cifar10'),
): ThreatSpec {
  const norm = flags.norm ?? data.threat.norm;
  const eps = flags.eps ?? data.threat.eps;
  const max = diameter(norm, unitBox(data.shape));
  if (eps > max) {
    throw new CliError(
      `--eps must be a size in [0,${fmtPixels(max)}] for --norm ${norm} on ${data.name} (beyond it the ball holds every input), as a fraction like 8/255 or a decimal like 0.031, got '${flagText(flags, 'eps') ?? flags.eps}'`,
    );
  }
  return { norm, eps };
}
