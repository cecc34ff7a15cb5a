#!/usr/bin/env bash
# Installs the Debian (bookworm) packages guidance needs to build, run and test, then configures
# and builds it in build/: the targets given as arguments (e.g. `guidance guidance-plugins`, what
# the quick start runs), else everything, tests included. Idempotent: quiet when everything is
# present and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp          # LibTorch; OpenBLAS replaces the slow reference BLAS
  libgloo-dev                               # <gloo/...> headers of LibTorch's c10d Gloo process group
  libblas-dev                               # cblas.h: metric plugins call syrk directly
  libboost-dev libboost-filesystem-dev      # Boost.DLL plugin loading
  libtomlplusplus-dev                       # configs
  libcli11-dev                              # command-line parsing
  libhdf5-dev hdf5-tools                    # records (h5dump for checks)
  libpng-dev libjpeg-dev zlib1g-dev         # image-folder and IDX .gz datasets
  googletest libgtest-dev libbenchmark-dev  # tests and benchmarks
  python3-h5py python3-numpy                # record interoperability test, Python reader
  python3-torch                             # TorchScript fixtures of the torchscript plugin tests
  dataset-fashion-mnist                     # the quickstart's data
  fortunes                                  # a local English text: the paper replication's language model (F6)
  chromium                                  # report layout check (headless)
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  as_root=()
  [[ $(id -u) -eq 0 ]] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

jobs=$(nproc)
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build build --parallel "$jobs" "${targets[@]}"
