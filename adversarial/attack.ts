// What an attack is. An attack is one file in adversarial/attacks/ holding its descriptor (name, typed options with
// defaults, how a configuration reads in reports, where it applies, and how to build it); a suite (AutoAttack) is a
// descriptor whose stages are other attacks. The registry (attack-registry.ts) collects them, so `eval`'s flags,
// its help and its report are derived from the descriptors, as `train`'s are from the methods'.
import type { Attack } from './attacks/types.js';
import type { OptionSpecs, OptionsOf, OptionValue } from './options.js';
import type { ThreatModel, ThreatSpec } from './threat.js';

/** Where an attack runs: the threat model, whether the inputs are images [N, C, H, W], and the classes. */
export interface AttackSetting {
  threat: ThreatSpec;
  images: boolean;
  classes: number;
}

/** What an attack is built with besides its options. */
export interface AttackEnv {
  threat: ThreatModel;
  classes: number;
  /** Random starts draw from (seed, stream + k): each evaluated batch has its own streams. */
  seed: number;
  stream: number;
}

/** A configuration as reports write it: `title (eps 8/255, detail, detail)`; a suite's details are its stages. */
export interface AttackText {
  title: string;
  details: string[];
}

/** One stage of a suite: an attack and the options it runs with (the others take their defaults). */
export interface SuiteStage {
  name: string;
  options?: Record<string, OptionValue>;
}

export interface AttackDescriptor<S extends OptionSpecs = OptionSpecs> {
  name: string;
  /** One line for help and the docs. */
  summary: string;
  options: S;
  /** The configuration in reports; for a suite, `stages` are the names of the stages that run here. */
  describe(o: OptionsOf<S>, setting: AttackSetting, stages: readonly string[]): AttackText;
  /** Why it cannot run in `setting` (null: it can). A suite skips such a stage, saying why; alone it is refused. */
  unsupported?(setting: AttackSetting): string | null;
  /** Run only on the first N examples of an evaluation (null: all), an expensive attack on a subset. */
  limit?(o: OptionsOf<S>): number | null;
  /** An attack: its function with the options bound. */
  create?(o: OptionsOf<S>, env: AttackEnv): Attack;
  /** A suite: its attacks in order, each run on the examples the earlier ones left robust. */
  stages?(o: OptionsOf<S>, setting: AttackSetting): readonly SuiteStage[];
}

/** Declares an attack with its option types inferred from `options`. */
export const defineAttack = <S extends OptionSpecs>(d: AttackDescriptor<S>): AttackDescriptor<S> => d;

/** An attack as an evaluation records it: its name and resolved options (flat, JSON). */
export type AttackConfig = { name: string } & Record<string, OptionValue>;
