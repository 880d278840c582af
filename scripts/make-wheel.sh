#!/usr/bin/env bash
# Builds the Python wheel dist/python/tandem-<version>-py3-none-<platform>.whl: the package python/tandem
# with libtandem.so inside it, so that `pip install dist/python/tandem-*.whl` (or `pip install ./python`)
# gives an `import tandem` that needs no path settings. Builds offline (no build isolation, no index).
#
# libtandem.so must be built first (scripts/make-libtandem.sh, or `make wheel`, which runs both).
# Environment: OUT (the libtandem folder, default dist/libtandem), WHEEL_DIR (default dist/python),
# PYTHON (a Python with pip, setuptools 61 or later and wheel; default: the first of python3 and
# /usr/bin/python3 that has them, else Debian's packages are installed).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-dist/libtandem}
wheel_dir=${WHEEL_DIR:-dist/python}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
library=$out/lib/libtandem.so
[ -f "$library" ] || { echo "make-wheel: $library is missing; build it first with scripts/make-libtandem.sh" >&2; exit 1; }

# Whether $1 can build the wheel without downloading anything.
can_build() {
    "$1" - <<'PY' 2>/dev/null
import importlib.util, sys
import setuptools
version = tuple(int(part) for part in setuptools.__version__.split(".")[:2])
has_wheel = version >= (70, 1) or importlib.util.find_spec("wheel") is not None
sys.exit(0 if version >= (61, 0) and has_wheel and importlib.util.find_spec("pip") else 1)
PY
}
python=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && can_build "$candidate"; then
        python=$(command -v "$candidate")
        break
    fi
done
if [ -z "$python" ] && command -v apt-get >/dev/null; then
    echo "Installing python3-pip, python3-setuptools and python3-wheel"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip python3-setuptools python3-wheel; } ||
        { echo "make-wheel: could not install python3-pip, python3-setuptools and python3-wheel" >&2; exit 1; }
    python=/usr/bin/python3
fi
[ -n "$python" ] || { echo "make-wheel: no Python with pip, setuptools >= 61 and wheel found (set PYTHON)" >&2; exit 1; }

# A stale build folder could put an older library into the wheel.
rm -rf python/build python/tandem.egg-info
mkdir -p "$wheel_dir"
rm -f "$wheel_dir"/tandem-*.whl
TANDEM_BUILD_LIBRARY=$library "$python" -m pip wheel --quiet --no-build-isolation --no-deps --no-index \
    --wheel-dir "$wheel_dir" ./python
rm -rf python/build python/tandem.egg-info
wheel=$(ls "$wheel_dir"/tandem-*.whl)
echo "make-wheel: $wheel ($(du -h "$wheel" | cut -f1)), built with $python"
