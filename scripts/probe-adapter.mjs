// Exits 0 when Dawn finds a WebGPU adapter, 1 otherwise (used by setup.sh to decide on a driver install).
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const adapter = await create([]).requestAdapter();
process.exit(adapter ? 0 : 1);
