#!/usr/bin/env bash
# Installs the Debian packages a make target needs, or prints the command.
# Usage: scripts/deps.sh GROUP...   (groups: build test demo sanitize bench aarch64)
set -euo pipefail

pkgs_for() {
    case "$1" in
        build|demo) echo "gcc make cmake pkg-config" ;;
        test)       echo "gcc make cmake pkg-config libcmocka-dev curl wrk" ;;
        sanitize)   echo "gcc clang make cmake pkg-config libcmocka-dev curl wrk" ;;
        bench)      echo "gcc g++ make cmake pkg-config libuv1-dev libboost-context-dev golang-go librust-tokio-dev librust-crossbeam-channel-dev cargo util-linux nginx wrk" ;;
        aarch64)    echo "gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user cmake make pkg-config libcmocka-dev:arm64" ;;
        *) echo "deps.sh: unknown group '$1'" >&2; exit 2 ;;
    esac
}

want=()
for g in "$@"; do
    for p in $(pkgs_for "$g"); do want+=("$p"); done
done

missing=()
for p in "${want[@]}"; do
    # A toolchain installed outside Debian (rustup's cargo) serves as well.
    if [ "$p" = cargo ] && command -v cargo >/dev/null 2>&1; then
        continue
    fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# Remove duplicates while keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
cmd="apt-get install -y ${missing[*]}"

# Packages named pkg:ARCH (libcmocka-dev:arm64) need that foreign
# architecture enabled in dpkg (multiarch) before apt-get update can see them.
arches=()
for p in "${missing[@]}"; do
    case "$p" in *:*) a="${p##*:}"
        dpkg --print-foreign-architectures | grep -qx "$a" || arches+=("$a") ;;
    esac
done
mapfile -t arches < <(printf '%s\n' "${arches[@]}" | awk 'NF && !seen[$0]++')

# Runs a command quietly; when it fails, shows what it said and stops.
quiet() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        echo "deps: '$*' failed:" >&2
        sed 's/^/  /' "$log" >&2
        rm -f "$log"
        echo "deps: could not install ${missing[*]}" >&2
        exit 1
    fi
    rm -f "$log"
}

if [ "$(id -u)" -eq 0 ]; then
    for a in "${arches[@]}"; do
        echo "deps: enabling multiarch: dpkg --add-architecture $a"
        quiet dpkg --add-architecture "$a"
    done
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    quiet apt-get update
    quiet apt-get install -y "${missing[@]}"
else
    # sudo where there is one; otherwise the commands are for root as is.
    sudo=""
    command -v sudo >/dev/null 2>&1 && sudo="sudo "
    echo "deps: missing packages: ${missing[*]}" >&2
    if [ -n "$sudo" ]; then
        echo "deps: install them with:" >&2
    else
        echo "deps: install them as root (su -) with:" >&2
    fi
    for a in "${arches[@]}"; do echo "  ${sudo}dpkg --add-architecture $a" >&2; done
    echo "  ${sudo}apt-get update" >&2
    echo "  ${sudo}$cmd" >&2
    exit 1
fi
