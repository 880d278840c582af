#!/usr/bin/env bash
# Builds the C API: dist/libtandem/{lib/libtandem.so, include/tandem.h, python/tandem.py}.
#
# libtandem.so carries the Swift runtime inside it (-Xswiftc -static-stdlib; SwiftPM's
# --static-swift-stdlib is ignored for dynamic libraries), so it loads on a machine without a Swift
# toolchain. It still needs the system's libOpenCL.so.1 (ocl-icd), libclblast.so.1 and libopenblas.so.0.
#
# Environment: SWIFT (default swift), TANDEM_EMBED_SCRATCH (default .build-embed), OUT (default
# dist/libtandem), CONFIG (release or debug; default release).
set -euo pipefail
cd "$(dirname "$0")/.."

swift=${SWIFT:-swift}
scratch=${TANDEM_EMBED_SCRATCH:-.build-embed}
out=${OUT:-dist/libtandem}
config=${CONFIG:-release}

"$swift" build -c "$config" --scratch-path "$scratch" --product CTandem -Xswiftc -static-stdlib
built="$scratch/$config/libCTandem.so"
[ -f "$built" ] || { echo "make-libtandem: $built was not built" >&2; exit 1; }

mkdir -p "$out/lib" "$out/include" "$out/python"
# The symbol table is not needed at run time (the dynamic symbols stay): about half the size.
tmp="$out/lib/.libtandem.so.tmp"
cp "$built" "$tmp"
if command -v strip >/dev/null; then strip --strip-debug "$tmp"; fi
mv -f "$tmp" "$out/lib/libtandem.so"
cp include/tandem.h "$out/include/tandem.h"
# The wrapper as one file; next to ../lib it finds the library (the wheel is scripts/make-wheel.sh).
cp python/tandem/__init__.py "$out/python/tandem.py"

if ldd "$out/lib/libtandem.so" | grep -E "libswift|/opt/swift|not found"; then
    echo "make-libtandem: libtandem.so needs the libraries above (expected only system libraries)" >&2
    exit 1
fi
echo "make-libtandem: $out/lib/libtandem.so ($(du -h "$out/lib/libtandem.so" | cut -f1)), $out/include/tandem.h, $out/python/tandem.py"
