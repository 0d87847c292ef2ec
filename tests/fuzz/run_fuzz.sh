#!/usr/bin/env bash
# Builds the libFuzzer target for the GraphDef loader + validator with clang in its own build
# folder (only the protos, the graph library and the target; incremental and ccache'd), then
# fuzzes for SECONDS starting from a few small real graphs. Exit 0: no crash; non-zero: a crash
# (the reproducer is written to FUZZ_BUILD/artifacts/).
# Usage: tests/fuzz/run_fuzz.sh FUZZ_BUILD [SECONDS]
set -euo pipefail
build=${1:?usage: run_fuzz.sh FUZZ_BUILD [SECONDS]}
secs=${2:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${TFQAT_SHARED_DIR:-$root/../shared}
mkdir -p "$build"
build=$(cd "$build" && pwd)

cxx=""
for c in clang++-14 clang++; do
  if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
done
if [ -z "$cxx" ]; then
  echo "run_fuzz: clang++ not found; install clang and libclang-rt-14-dev (scripts/install-deps.sh)" >&2
  exit 1
fi

if [ ! -f "$build/tree/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build/tree" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTFQAT_FUZZ=ON -DTFQAT_BENCH=OFF -DTFQAT_SHARED_DIR="$shared" >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log" >&2; exit 1; }
fi
cmake --build "$build/tree" --target graph_fuzz -j "${JOBS:-2}" >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log" >&2; exit 1; }

# Seeds: small real graphs in both formats (copied once), plus what earlier runs found.
seeds="$build/seeds"
if [ ! -d "$seeds" ]; then
  mkdir -p "$seeds"
  tf="$shared/testdata/tf"
  for f in opencv_extra/single_conv_net.pb opencv_extra/conv_pool_nchw_net.pb \
           opencv_extra/uint8_single_conv_net.pb opencv_extra/leaky_relu_order1_net.pb \
           opencv_extra/batch_norm_net.pb dl4j/mnist_00/frozen_model.pb \
           dl4j/fake_quant/min_max_vars/rank1_0_1_4bit/frozen_graph.pbtxt \
           dl4j/fake_quant/min_max_args_per_channel/rank1_8bit/frozen_model.pb \
           dl4j/fake_quant/min_max_args/rank1_0_1_8bit/frozen_model.pb \
           utensor_cgen/simple_mnist.pb; do
    [ -f "$tf/$f" ] && cp "$tf/$f" "$seeds/$(echo "$f" | tr '/' '_')"
  done
  chmod -R u+w "$seeds"
fi
mkdir -p "$build/corpus" "$build/artifacts"
log="$build/fuzz.log"
set +e
# A fixed seed keeps a CI run reproducible; inputs that once crashed stay in the seed set.
"$build/tree/tests/fuzz/graph_fuzz" -seed=1 -max_total_time="$secs" -max_len=65536 -timeout=20 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
  "$build/corpus" "$seeds" "$root/tests/fuzz/regressions" >"$log" 2>&1
rc=$?
set -e
grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs" "$log" || true
if [ $rc -ne 0 ]; then
  tail -60 "$log" >&2
  echo "run_fuzz: the fuzzer found a failure (exit $rc); reproducer in $build/artifacts/" >&2
  exit $rc
fi
echo "run_fuzz: no failures in ${secs}s"
