// Owns the WebGPU adapter and device: backend/adapter choice, features, limits, and turning asynchronous
// device errors into exceptions thrown at the next synchronisation point.
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { create, globals } from 'webgpu';

// WebGPU's global constructors and enums (GPUBufferUsage, GPUBuffer, ...) as a browser would define them.
Object.assign(globalThis, globals);

export interface GpuOptions {
  /** Dawn backend, e.g. 'vulkan', 'metal', 'd3d12'. Default: ADVFREE_BACKEND, else Dawn's choice. */
  backend?: string;
  /** Substring of the adapter name to pick, e.g. 'llvmpipe' or 'NVIDIA'. Default: ADVFREE_ADAPTER. */
  adapter?: string;
  /** Extra Dawn toggles to enable, e.g. ['allow_unsafe_apis']. */
  enableToggles?: string[];
  /** Dawn toggles to disable, e.g. ['timestamp_quantization'] for profiling. */
  disableToggles?: string[];
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  /** True for CPU implementations such as lavapipe (Dawn reports them as fallback adapters). */
  software: boolean;
  features: string[];
  limits: Record<string, number>;
}

/** The backend Dawn picks when none is named. */
const DEFAULT_BACKEND: Record<string, string> = { linux: 'vulkan', darwin: 'metal', win32: 'd3d12' };

export const SETUP_HINT = 'npm run setup';

/** Variables with which the Vulkan loader takes its driver list from the user instead of the system. */
const ICD_VARIABLES = ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES'] as const;

/**
 * Why the Vulkan loader may see no driver although one is installed: a driver list in the environment, naming
 * files that do not exist (or only some drivers). Null when the environment leaves the choice to the system.
 */
export function icdOverride(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const name of ICD_VARIABLES) {
    const value = env[name];
    if (!value) continue;
    const missing = value.split(delimiter).filter((f) => f && !existsSync(f));
    return missing.length
      ? `${name}=${value} names ${missing.length > 1 ? 'files that do' : 'a file that does'} not exist (${missing.join(', ')}); ` +
          `unset ${name} to use the installed drivers, or point it at an existing driver manifest (e.g. in /usr/share/vulkan/icd.d)`
      : `${name}=${value} restricts Vulkan to the drivers it names; unset it to use every installed driver`;
  }
  return null;
}

export class NoAdapterError extends Error {
  constructor(reason: string, filtered = false, env: NodeJS.ProcessEnv = process.env) {
    const override = filtered ? null : icdOverride(env);
    super(
      `advfree: no WebGPU adapter (${reason}). ` +
        (filtered
          ? 'Drop --backend/--adapter (ADVFREE_BACKEND/ADVFREE_ADAPTER) to take the default adapter.'
          : (override ??
            `On a machine without a GPU, install Mesa's software Vulkan driver (lavapipe) with: ${SETUP_HINT}`)),
    );
    this.name = 'NoAdapterError';
  }
}

/** The limits we ask for: as high as the adapter allows, since the default limits are conservative. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

const OPTIONAL_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'];

export class Gpu {
  /** The first asynchronous error reported by the device; thrown by `check()`. */
  private pending: Error | null = null;

  private constructor(
    readonly instance: GPU,
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly description: AdapterDescription,
  ) {}

  static async open(opts: GpuOptions = {}): Promise<Gpu> {
    // Mesa warns when XDG_RUNTIME_DIR is unset; the warning is harmless noise on a headless machine.
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const backend = opts.backend ?? process.env.ADVFREE_BACKEND;
    const adapterName = opts.adapter ?? process.env.ADVFREE_ADAPTER;
    const flags: string[] = [];
    if (backend) flags.push(`backend=${backend}`);
    if (adapterName) flags.push(`adapter=${adapterName}`);
    if (opts.enableToggles?.length) flags.push(`enable-dawn-features=${opts.enableToggles.join(',')}`);
    if (opts.disableToggles?.length) flags.push(`disable-dawn-features=${opts.disableToggles.join(',')}`);

    const instance = create(flags);
    const filters = [backend && `backend '${backend}'`, adapterName && `adapter '${adapterName}'`].filter(Boolean);
    let adapter: GPUAdapter | null = null;
    try {
      adapter = await instance.requestAdapter({ powerPreference: 'high-performance' });
    } catch (e) {
      throw new NoAdapterError(`requestAdapter failed: ${(e as Error).message}`, filters.length > 0);
    }
    if (!adapter) {
      throw new NoAdapterError(
        filters.length ? `none matches ${filters.join(' and ')}` : 'no Vulkan/Metal/D3D12 device found',
        filters.length > 0,
      );
    }

    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter!.features.has(f));
    const requiredLimits: Record<string, number> = {};
    for (const k of RAISED_LIMITS) requiredLimits[k] = (adapter.limits as unknown as Record<string, number>)[k];
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'advfree' });

    const info = adapter.info;
    const limits: Record<string, number> = {};
    for (const k in device.limits) limits[k] = (device.limits as unknown as Record<string, number>)[k];
    const description: AdapterDescription = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      backend: backend ?? DEFAULT_BACKEND[process.platform] ?? 'default',
      software: info.isFallbackAdapter || info.architecture === 'software',
      features: [...device.features].sort(),
      limits,
    };
    const gpu = new Gpu(instance, adapter, device, description);
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      // Without preventDefault, Dawn's Node binding also prints the error on stdout, which carries results.
      ev.preventDefault();
      gpu.pending ??= new Error(`advfree: GPU ${ev.error.constructor.name}: ${ev.error.message}`);
    };
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') gpu.pending ??= new Error(`advfree: GPU device lost: ${info.message}`);
    });
    return gpu;
  }

  get name(): string {
    const d = this.description;
    return [d.vendor, d.architecture, d.device, d.description].filter(Boolean).join(' ') || 'unknown adapter';
  }

  hasFeature(f: GPUFeatureName): boolean {
    return this.device.features.has(f);
  }

  /** Records an error to be thrown at the next `check()`, with the context the caller knows about. */
  report(err: Error): void {
    this.pending ??= err;
  }

  /** Throws the first asynchronous device error, naming `context` (e.g. the kernels of the last batch). */
  check(context?: string): void {
    if (!this.pending) return;
    const err = this.pending;
    this.pending = null;
    if (context) err.message += ` (while running ${context})`;
    throw err;
  }

  destroy(): void {
    this.device.destroy();
  }
}
