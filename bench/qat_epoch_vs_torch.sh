#!/usr/bin/env bash
# Side-by-side: one LeNet training epoch (batch 64, 8000 MNIST images), float and QAT, with 1
# and 2 threads, tfqat's trainer (bench/trainer_qat_epoch) vs PyTorch (when python3 can import
# torch). Usage: bench/qat_epoch_vs_torch.sh BUILD_DIR [MNIST_DIR]
# MNIST_DIR holds train_images.npy / train_labels.npy (scripts/fetch-mnist.sh; default .cache/mnist/data).
set -euo pipefail
# A python3 that can import torch (Debian's python3-torch lives under /usr/bin/python3, which an
# earlier python3 on PATH may shadow).
py=""
for cand in "${PYTHON:-}" python3 /usr/bin/python3; do
  if [[ -n "$cand" ]] && "$cand" -c "import torch, numpy" 2>/dev/null; then py=$cand; break; fi
done
build=${1:?usage: $0 BUILD_DIR [MNIST_DIR]}
data=${2:-${TFQAT_CACHE:-.cache}/mnist/data}
here=$(cd "$(dirname "$0")" && pwd)
if [[ ! -f "$data/train_images.npy" ]]; then
  echo "qat_epoch_vs_torch: no $data/train_images.npy (run scripts/fetch-mnist.sh $build)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== tfqat trainer (bench/trainer_qat_epoch)"
TFQAT_MNIST_DIR="$data" "$build/bench/trainer_qat_epoch" --benchmark_format=console \
  --benchmark_out="$tmp/tfqat.json" --benchmark_out_format=json
if [[ -n "$py" ]]; then
  for t in 1 2; do
    echo "== PyTorch, $t thread(s)"
    "$py" -W ignore "$here/qat_epoch_vs_torch.py" --data "$data" --threads "$t" | tee "$tmp/torch_$t.json"
  done
else
  echo "== PyTorch not installed (python3 -c 'import torch' failed): only tfqat measured"
fi
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Summary: wall seconds per epoch, ratio tfqat / PyTorch (<= 1.0: tfqat at most PyTorch's time).
"${py:-python3}" - "$tmp" <<'PY'
import json, os, re, sys
tmp = sys.argv[1]
ours = {}
for b in json.load(open(os.path.join(tmp, "tfqat.json")))["benchmarks"]:
    m = re.search(r"qat:(\d)/threads:(\d)", b["name"])
    scale = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[b.get("time_unit", "ms")]
    ours[(int(m.group(1)), int(m.group(2)))] = (b["real_time"] * scale, b.get("peak_rss_MiB", 0.0))
theirs = {}
for t in (1, 2):
    path = os.path.join(tmp, f"torch_{t}.json")
    if os.path.exists(path):
        r = json.load(open(path))
        theirs[(0, t)] = (r["float_epoch_s"], r["peak_rss_MiB"])
        theirs[(1, t)] = (r["qat_epoch_s"], r["peak_rss_MiB"])
print("| run | threads | tfqat s | PyTorch s | ratio | tfqat peak RSS MiB | PyTorch peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for (qat, t), (s, rss) in sorted(ours.items()):
    ts, trss = theirs.get((qat, t), (float("nan"), float("nan")))
    print(f"| {'QAT' if qat else 'float'} | {t} | {s:.2f} | {ts:.2f} | {s / ts:.2f} | {rss:.0f} | {trss:.0f} |")
PY
