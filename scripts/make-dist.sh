#!/usr/bin/env bash
# Builds dist/tandem: a `tandem` binary on the static Swift runtime, the shared libraries it needs
# (ICD loader, CLBlast, OpenBLAS and their own dependencies) and a launcher that finds them. Copy the
# folder to a GPU node that has a driver but no Swift toolchain and run dist/tandem/tandem.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/tandem
flags=(-c release --static-swift-stdlib -Xlinker -rpath -Xlinker '$ORIGIN/../lib' --scratch-path .build-dist)
swift build "${flags[@]}" --product tandem
swift build "${flags[@]}" --product GemmBench
bin=$(swift build "${flags[@]}" --show-bin-path)

rm -rf "$out.tmp"
mkdir -p "$out.tmp/bin" "$out.tmp/lib"
cp "$bin/tandem" "$out.tmp/bin/tandem"
cp "$bin/GemmBench" "$out.tmp/bin/tandem-gemm-bench"
strip "$out.tmp/bin/"*

# Every shared library the binaries load, except the C library itself (the node's glibc must be used).
system='^(linux-vdso|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libutil\.so|ld-linux)'
for binary in "$out.tmp/bin/"*; do
    ldd "$binary" | awk '/=>/ { print $1, $3 }' | while read -r soname path; do
        [[ "$soname" =~ $system ]] && continue
        [ -e "$out.tmp/lib/$soname" ] || cp -L "$path" "$out.tmp/lib/$soname"
    done
done

# The GPU check, the PyTorch peer, and a Fashion-MNIST subset (the first 20,000 training images and
# the whole test set, as gzipped IDX files) for nodes without the Debian dataset package.
cp scripts/gpu-check.sh "$out.tmp/gpu-check.sh"
mkdir -p "$out.tmp/peers"
cp Benchmarks/peers/pytorch_bench.py "$out.tmp/peers/"
fashion=/usr/share/datasets/fashion-mnist
if [ -d "$fashion" ]; then
    mkdir -p "$out.tmp/data/fashion-mnist"
    cp "$fashion"/t10k-*.gz "$out.tmp/data/fashion-mnist/"
    python3 - "$fashion" "$out.tmp/data/fashion-mnist" 20000 <<'SUBSET'
import gzip, struct, sys
source, target, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, item in (("train-images-idx3-ubyte.gz", 784), ("train-labels-idx1-ubyte.gz", 1)):
    data = gzip.open(f"{source}/{name}").read()
    dims = data[3]
    header = bytearray(data[:4 + 4 * dims])
    struct.pack_into(">I", header, 4, count)
    body = data[4 + 4 * dims:4 + 4 * dims + count * item]
    with gzip.open(f"{target}/{name}", "wb", compresslevel=9) as f:
        f.write(bytes(header) + body)
SUBSET
fi

cat > "$out.tmp/tandem" <<'LAUNCHER'
#!/bin/sh
# Runs the bundled tandem with the bundled libraries; the OpenCL driver comes from /etc/OpenCL/vendors.
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# What tandem prints in commands to run next (the resume command after Ctrl-C): this launcher.
export TANDEM_PROGRAM="$here/tandem"
if [ -z "${TANDEM_FASHION_MNIST_DIR:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ] && [ -d "$here/data/fashion-mnist" ]; then
    export TANDEM_FASHION_MNIST_DIR="$here/data/fashion-mnist"
fi
exec "$here/bin/${TANDEM_BINARY:-tandem}" "$@"
LAUNCHER
chmod +x "$out.tmp/tandem"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "Bundle in $out ($(du -sh "$out" | cut -f1)):"
ls -la "$out/bin" "$out/lib"
