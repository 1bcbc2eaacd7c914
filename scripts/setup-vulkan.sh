#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe), for machines with no GPU adapter. Run by scripts/setup.sh
# only when no WebGPU adapter is found; apt makes a repeated install a no-op.
# Debian bookworm's own Mesa (22.3) lacks a feature Dawn requires; bookworm-backports' Mesa 25 works.
set -euo pipefail

if ! command -v apt-get >/dev/null; then
  echo "setup-vulkan: no apt-get here: install a Vulkan GPU driver, or Mesa >= 23 with lavapipe, by hand" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
. /etc/os-release
export DEBIAN_FRONTEND=noninteractive
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  list=/etc/apt/sources.list.d/bookworm-backports.list
  [ -f "$list" ] || echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$list" >/dev/null
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
echo "setup-vulkan: $(dpkg-query -W -f='mesa-vulkan-drivers ${Version}' mesa-vulkan-drivers)" >&2
