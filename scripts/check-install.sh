#!/usr/bin/env bash
# Installs cio into a scratch prefix and builds a user program against it
# twice: with pkg-config and with CMake's find_package.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make install PREFIX="$prefix" >/dev/null

cat > "$prefix/hello.c" <<'C'
#include <cio.h>
#include <stdio.h>
static void *child(void *arg) { return arg; }
static int main_task(void *arg)
{
    (void)arg;
    cio_task t;
    void *r = NULL;
    if (cio_spawn(&t, child, (void *)42, NULL) < 0 || cio_join(t, &r, CIO_NEVER) < 0)
        return 1;
    printf("hello from a task: %ld\n", (long)(intptr_t)r);
    return 0;
}
int main(void) { return cio_run(main_task, NULL, NULL); }
C

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046
cc -o "$prefix/hello-pc" "$prefix/hello.c" $(pkg-config --cflags --libs cio) \
    -Wl,-rpath,"$(pkg-config --variable=libdir cio)"
"$prefix/hello-pc"

mkdir -p "$prefix/proj"
cat > "$prefix/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.21)
project(hello C)
find_package(cio REQUIRED)
add_executable(hello ../hello.c)
target_link_libraries(hello PRIVATE cio::cio_static)
CM
cmake -S "$prefix/proj" -B "$prefix/proj/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/proj/build" >/dev/null
"$prefix/proj/build/hello"
