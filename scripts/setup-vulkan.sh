#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe) when no Vulkan device is available.
# Idempotent: does nothing when a Vulkan ICD is already installed and recent enough for Dawn.
set -euo pipefail

have_icd() {
  # Dawn needs Mesa >= 23 for lavapipe; bookworm's own 22.3 lacks shaderUniform*ArrayDynamicIndexing.
  local f
  for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
    [ -e "$f" ] || continue
    case "$f" in
      *lvp_icd*) dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qv '^2[0-2]\.' && return 0 ;;
      *) return 0 ;;
    esac
  done
  return 1
}

if have_icd; then
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "setup-vulkan: no Vulkan driver found and no apt-get to install one; install Mesa >= 23 (lavapipe) or a GPU driver" >&2
  exit 1
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  list=/etc/apt/sources.list.d/bookworm-backports.list
  [ -f "$list" ] || echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$list" >/dev/null
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
echo "setup-vulkan: installed $(dpkg-query -W -f='mesa-vulkan-drivers ${Version}' mesa-vulkan-drivers)" >&2
