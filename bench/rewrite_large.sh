#!/bin/sh
# The rewriter's numbers for docs/PERFORMANCE.md in one run: the ResNet-50-sized graph (per
# call CPU, median and min of 200 calls) and the 10k / 100k / 1M-node chains (one rewrite per
# process: CPU time, peak RSS growth against the input's size), eval and train; then
# `tfqat rewrite` on the same chains as files (peak RSS of the process against the file).
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
# `tfqat rewrite` end to end on the same chains saved as .pb files (load, rewrite streamed to
# bytes, atomic write): wall/CPU and peak RSS of the whole process against the file's size.
cli="${1:-build/release}/cli/tfqat"
if [ -x "$cli" ] && [ -x /usr/bin/time ]; then
  tmp=$(mktemp -d)
  for n in 10000 100000 1000000; do
    "$bin" --graph chain --nodes "$n" --save "$tmp/in.pb"
    for mode in eval train; do
      /usr/bin/time -f "tfqat rewrite nodes=$n mode=$mode wall_s=%e user_s=%U sys_s=%S max_rss_kb=%M" \
        "$cli" rewrite "$tmp/in.pb" -o "$tmp/out.pb" --mode "$mode" -q
      echo "  input_file_bytes=$(stat -c %s "$tmp/in.pb") output_file_bytes=$(stat -c %s "$tmp/out.pb")"
      rm -f "$tmp/out.pb"
    done
  done
  rm -rf "$tmp"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
