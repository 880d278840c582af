#!/usr/bin/env bash
# Installs the Debian packages Tandem builds and runs with, only when some are missing.
# Idempotent: a second run installs nothing and asks no package server.
set -euo pipefail
packages=(ocl-icd-opencl-dev opencl-headers libclblast-dev pocl-opencl-icd libopenblas-dev zlib1g-dev
          clinfo dataset-fashion-mnist oclgrind openmpi-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
