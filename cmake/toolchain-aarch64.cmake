# Cross build for aarch64 Linux on a Debian x86_64 host (make test-aarch64).
#
# Compilers: gcc-aarch64-linux-gnu, sysroot libc: libc6-dev-arm64-cross
# (/usr/aarch64-linux-gnu). Extra arm64 libraries (cmocka) come from Debian
# multiarch: dpkg --add-architecture arm64; apt-get install libcmocka-dev:arm64,
# which puts them in /usr/lib/aarch64-linux-gnu (headers in /usr/include).
# Tests run under qemu-user through CMAKE_CROSSCOMPILING_EMULATOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CIO_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER   ${CIO_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${CIO_CROSS_TRIPLE}-g++)
set(CMAKE_ASM_COMPILER ${CIO_CROSS_TRIPLE}-gcc)

# Search the cross libc tree and the host root, but only the aarch64 multiarch
# subdirectories of the latter (lib/aarch64-linux-gnu) plus /usr/include.
set(CMAKE_LIBRARY_ARCHITECTURE ${CIO_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${CIO_CROSS_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg_check_modules: look only at arm64 .pc files (paths in them are absolute).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${CIO_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# qemu loads the cross ld.so from /usr/${CIO_CROSS_TRIPLE}/lib. LD_LIBRARY_PATH
# makes it take libc.so.6 from the same place (a matching ld.so/libc pair; the
# multiarch libc6:arm64 in /usr/lib/aarch64-linux-gnu may be a different
# build) and libcmocka.so.0 from the multiarch directory. Debian ships no
# arm64 libcmocka.a, so cmocka is linked dynamically.
find_program(CIO_QEMU_AARCH64 qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${CIO_QEMU_AARCH64}
    -L /usr/${CIO_CROSS_TRIPLE}
    -E LD_LIBRARY_PATH=/usr/${CIO_CROSS_TRIPLE}/lib:/usr/lib/${CIO_CROSS_TRIPLE})
