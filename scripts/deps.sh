#!/usr/bin/env bash
# Installs the Debian packages a make target needs, or prints the command.
# Usage: scripts/deps.sh GROUP...   (groups: build test demo sanitize bench aarch64)
set -euo pipefail

pkgs_for() {
    case "$1" in
        build|demo) echo "gcc make cmake pkg-config" ;;
        test)       echo "gcc make cmake pkg-config libcmocka-dev" ;;
        sanitize)   echo "gcc clang make cmake pkg-config libcmocka-dev" ;;
        bench)      echo "gcc g++ make cmake pkg-config libuv1-dev libboost-context-dev golang-go librust-tokio-dev cargo util-linux" ;;
        aarch64)    echo "gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user cmake make" ;;
        *) echo "deps.sh: unknown group '$1'" >&2; exit 2 ;;
    esac
}

want=()
for g in "$@"; do
    for p in $(pkgs_for "$g"); do want+=("$p"); done
done

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# Remove duplicates while keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
cmd="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: run as root:  sudo $cmd" >&2
    exit 1
fi
