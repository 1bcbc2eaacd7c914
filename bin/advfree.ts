import { init } from '../engine/index.js';
const r = await init();
console.log(r.gpu.name, r.gpu.description);
r.gpu.destroy();
