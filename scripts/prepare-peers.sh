#!/usr/bin/env bash
# Installs the peer tools the conformance tests compare against into BUILD/peers/:
# the real TensorFlow Lite interpreter (tflite-run, WASM from npm). shared/ is read-only in CI,
# so the tool is copied into the build folder before `npm ci`.
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${TFQAT_SHARED_DIR:-$root/../shared}
mkdir -p "$build/peers"
for tool in tflite-run onnx-run; do
  src="$shared/tools/$tool"
  dst="$build/peers/$tool"
  [ -d "$src" ] || { echo "prepare-peers: $src not found; conformance tests will report it" >&2; continue; }
  if [ -f "$dst/.installed" ] && cmp -s "$src/package-lock.json" "$dst/package-lock.json"; then
    continue
  fi
  rm -rf "$dst"
  mkdir -p "$dst"
  cp -r "$src/." "$dst/"
  chmod -R u+w "$dst"
  echo "prepare-peers: npm ci for $tool"
  extra=()
  [ "$tool" = onnx-run ] && extra=(--ignore-scripts)
  (cd "$dst" && npm ci --no-audit --no-fund --loglevel=error "${extra[@]}" >/dev/null)
  touch "$dst/.installed"
done
