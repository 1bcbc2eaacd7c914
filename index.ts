// advfree: a WebGPU tensor and autodiff engine for adversarial-training research.
export * from './engine/index.js';
