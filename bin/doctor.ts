// `advfree doctor`: which adapter the engine gets, its backend, features and limits.
import { init, shutdown } from '../engine/index.js';
import { command, type FlagSet } from './args.js';

export const doctor = command({
  name: 'doctor',
  summary: 'print the WebGPU adapter, backend, features and limits the engine uses',
  flags: { json: { type: 'boolean', help: 'print one JSON object' } } satisfies FlagSet,
  async run(flags) {
    const r = await init({ backend: flags.backend, adapter: flags.adapter });
    const d = r.gpu.description;
    if (flags.json) {
      console.log(JSON.stringify({ adapter: r.gpu.name, ...d }, null, 2));
    } else {
      console.log(`adapter:   ${r.gpu.name}`);
      console.log(`backend:   ${d.backend}`);
      console.log(`features:  ${d.features.join(', ')}`);
      console.log('limits:');
      for (const [k, v] of Object.entries(d.limits)) console.log(`  ${k.padEnd(44)}${v}`);
    }
    shutdown();
    return 0;
  },
});
