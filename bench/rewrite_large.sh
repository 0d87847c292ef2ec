#!/bin/sh
# The rewriter's numbers for docs/PERFORMANCE.md in one run: the ResNet-50-sized graph (per
# call CPU, median and min of 200 calls) and the 10k / 100k / 1M-node chains (one rewrite per
# process: CPU time, peak RSS growth against the input's size), eval and train.
#   bench/rewrite_large.sh [BUILD_DIR]       (default build/release)
set -eu
bin="${1:-build/release}/bench/rewrite_large"
[ -x "$bin" ] || { echo "no $bin: build the rewrite_large target" >&2; exit 1; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in eval train; do
  for api in copy inplace; do
    "$bin" --graph resnet --mode "$mode" --api "$api" --iters 200
  done
done
for n in 10000 100000 1000000; do
  for mode in eval train; do
    "$bin" --graph chain --nodes "$n" --mode "$mode" --api stream
    # The NodeDef forms hold ~1 KB per emitted node: the 1M train graph needs ~10 GB.
    if [ "$n" -lt 1000000 ] || [ "$mode" = eval ] || [ "${TFQAT_BENCH_BIG:-0}" = 1 ]; then
      "$bin" --graph chain --nodes "$n" --mode "$mode" --api inplace
    fi
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
