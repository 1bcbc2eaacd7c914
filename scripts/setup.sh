#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: npm packages, then a software Vulkan driver if no WebGPU adapter exists.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if ! node scripts/probe-adapter.mjs 2>/dev/null; then
  echo "setup: no WebGPU adapter found; installing Mesa's software Vulkan driver (lavapipe)" >&2
  bash scripts/setup-vulkan.sh
  if ! node scripts/probe-adapter.mjs; then
    echo "setup: still no WebGPU adapter after installing lavapipe; see the messages above" >&2
    exit 1
  fi
fi
