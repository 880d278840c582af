#!/usr/bin/env bash
# Embedding checks (issue 7), from a fresh clone:
#   1. builds libtandem.so on the static Swift runtime (scripts/make-libtandem.sh) and checks that it
#      needs no Swift toolchain library and loads under an empty environment;
#   2. checks that every function declared in include/tandem.h is exported (nm -D), and that the
#      header compiles as C11 and as C++;
#   3. compiles c/test_tandem.c and c/example.c against the header and runs them on each device;
#   4. builds the Python wheel (scripts/make-wheel.sh), installs it into a fresh virtual environment
#      (with the system's site packages, for NumPy), checks that `import tandem` loads the library
#      inside the package and that TANDEM_LIBRARY overrides it, and runs python/test_tandem.py and
#      python/example.py on each device from a directory outside the repository (so the installed
#      package, not python/tandem, is imported);
#   5. builds Examples/TwoTaskExample (a separate package using Tandem by path) and runs it on each
#      device.
# Devices: "cpu" and "opencl" (PoCL here); set TANDEM_EMBED_DEVICES to change the list. The programs
# run under `env -i` (only PATH, HOME and PoCL's settings kept), so nothing of the toolchain leaks in.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

devices=${TANDEM_EMBED_DEVICES:-cpu opencl}
out=${OUT:-dist/libtandem}
work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-embed.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - start)); }
fail() { echo "test-embedding: FAILED: $*" >&2; exit 1; }

pick() { for candidate in "$@"; do if command -v "$candidate" >/dev/null; then command -v "$candidate"; return; fi; done; }
cc=${CC:-$(pick cc gcc clang)}
cxx=${CXX:-$(pick c++ g++ clang++)}
[ -n "$cc" ] && [ -n "$cxx" ] || fail "a C and a C++ compiler are needed (cc, c++)"

# A Python with NumPy: $PYTHON, python3 on the PATH, else Debian's python3 with python3-numpy
# (installed here when missing, as scripts/install-deps.sh installs the other packages).
python=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c "import numpy" 2>/dev/null; then
        python=$(command -v "$candidate")
        break
    fi
done
if [ -z "$python" ] && command -v apt-get >/dev/null; then
    echo "Installing python3-numpy"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-numpy; } ||
        fail "could not install python3-numpy"
    python=/usr/bin/python3
fi
[ -n "$python" ] || fail "no python3 with NumPy found (set PYTHON, or pip install numpy)"

# A clean environment for the programs that load libtandem.so.
clean_env=(env -i "PATH=$PATH" "HOME=${HOME:-/tmp}" "LD_LIBRARY_PATH=$root/$out/lib")
for name in POCL_CACHE_DIR POCL_WORK_GROUP_METHOD POCL_DEVICES OCL_ICD_VENDORS XDG_CACHE_HOME; do
    if [ -n "${!name:-}" ]; then clean_env+=("$name=${!name}"); fi
done

step "build libtandem.so (release, static Swift runtime)"
OUT=$out scripts/make-libtandem.sh
lib=$out/lib/libtandem.so

step "no toolchain needed"
if ldd "$lib" | grep -E "libswift|/opt/swift|/usr/share/swift|not found"; then fail "libtandem.so needs the libraries above"; fi
"${clean_env[@]}" "$python" -c "import ctypes, sys; lib = ctypes.CDLL('libtandem.so'); lib.tandem_version.restype = ctypes.c_char_p; print('loaded under env -i: libtandem', lib.tandem_version().decode())"

step "Python wheel, installed into a fresh virtual environment"
OUT=$out WHEEL_DIR=$out/../python scripts/make-wheel.sh
wheel=$(ls "$out"/../python/tandem-*.whl)
"$python" -m venv --system-site-packages "$work/venv" || fail "$python -m venv failed (Debian: apt-get install python3-venv)"
venv_python=$work/venv/bin/python
"$venv_python" -m pip install --quiet --no-index --no-deps "$wheel"
mkdir "$work/outside"
cp python/test_tandem.py python/example.py "$work/outside/"
# The Python programs run outside the repository, with neither LD_LIBRARY_PATH nor TANDEM_LIBRARY.
python_env=(env -i "PATH=$PATH" "HOME=${HOME:-/tmp}")
for name in POCL_CACHE_DIR POCL_WORK_GROUP_METHOD POCL_DEVICES OCL_ICD_VENDORS XDG_CACHE_HOME; do
    if [ -n "${!name:-}" ]; then python_env+=("$name=${!name}"); fi
done
(cd "$work/outside" && "${python_env[@]}" "$venv_python" -c '
import os, tandem
package = os.path.dirname(tandem.__file__)
assert os.path.dirname(tandem.library_path) == package, f"loaded {tandem.library_path}, not the copy in {package}"
assert "site-packages" in package, f"imported {package}, not the installed package"
print(f"import tandem: {package}, library {tandem.library_path}, version {tandem.version()}")') ||
    fail "the installed package does not load its own libtandem.so"
(cd "$work/outside" && "${python_env[@]}" TANDEM_LIBRARY="$root/$lib" "$venv_python" -c '
import os, sys, tandem
assert tandem.library_path == os.environ["TANDEM_LIBRARY"], tandem.library_path
print("TANDEM_LIBRARY overrides the packaged library:", tandem.library_path)') || fail "TANDEM_LIBRARY does not override"
if (cd "$work/outside" && "${python_env[@]}" TANDEM_LIBRARY=/nonexistent/libtandem.so "$venv_python" -c 'import tandem' 2>"$work/override.err"); then
    fail "a TANDEM_LIBRARY that does not exist was ignored"
fi
grep -q "TANDEM_LIBRARY=/nonexistent/libtandem.so cannot be loaded" "$work/override.err" ||
    fail "a wrong TANDEM_LIBRARY gives an unclear error: $(tail -1 "$work/override.err")"

step "every function of tandem.h is exported"
declared=$("$cc" -E -P include/tandem.h | grep -oE '\btandem_[a-z_0-9]+[[:space:]]*\(' | tr -d '( \t' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | grep '^tandem_' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
[ -z "$missing" ] || fail "declared in tandem.h but not exported: $missing"
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
[ -z "$extra" ] || fail "exported but not declared in tandem.h: $extra"
echo "$(echo "$declared" | wc -l) functions declared, all exported"

step "the header compiles as C11 and C++"
printf '#include "tandem.h"\nint main(void) { return tandem_version() == 0; }\n' > "$work/header.c"
"$cc" -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -c "$work/header.c" -o "$work/header.o"
cp "$work/header.c" "$work/header.cpp"
"$cxx" -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c "$work/header.cpp" -o "$work/header-cpp.o"

step "C test and example"
cflags=(-std=c11 -O1 -Wall -Wextra -Werror -pedantic -Iinclude)
"$cc" "${cflags[@]}" c/test_tandem.c -L"$out/lib" -ltandem -lpthread -lm -o "$work/test_tandem"
"$cc" "${cflags[@]}" c/example.c -L"$out/lib" -ltandem -lm -o "$work/example"
for device in $devices; do
    step "C test on $device"
    "${clean_env[@]}" "$work/test_tandem" "$device" 40
    step "C example on $device"
    "${clean_env[@]}" "$work/example" "$device"
done

for device in $devices; do
    step "Python test on $device (installed wheel)"
    (cd "$work/outside" && "${python_env[@]}" "$venv_python" test_tandem.py "$device")
    step "Python example on $device (installed wheel)"
    (cd "$work/outside" && "${python_env[@]}" "$venv_python" example.py "$device")
done

step "Swift example package (Examples/TwoTaskExample)"
"${SWIFT:-swift}" build --package-path Examples/TwoTaskExample
example_bin=$("${SWIFT:-swift}" build --package-path Examples/TwoTaskExample --show-bin-path)/TwoTaskExample
for device in $devices; do
    step "Swift example on $device"
    "$example_bin" "$device"
done

step "all embedding checks passed"
