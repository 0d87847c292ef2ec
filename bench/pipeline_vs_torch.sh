#!/usr/bin/env bash
# Side by side, in one run: `tfqat pipeline` (rewrite -> fake-quant fine-tune -> freeze -> audit ->
# convert -> verify -> bench) vs PyTorch's eager QAT path (fuse -> prepare_qat -> fine-tune ->
# convert -> evaluate, bench/pipeline_vs_torch.py), same LeNet, MNIST split, batch and epochs, with
# 1 and 2 threads. Prints both totals and the ratio tfqat / PyTorch (< 1: tfqat faster).
# Usage: bench/pipeline_vs_torch.sh BUILD_DIR [MNIST_DIR] [FLOAT_MODEL]
#   MNIST_DIR: train/test _images.npy, _labels.npy (scripts/fetch-mnist.sh; default .cache/mnist/data)
#   FLOAT_MODEL: the float LeNet GraphDef (default build/demo/lenet_float.pb, written by `make demo`)
set -euo pipefail
# A python3 that can import torch (Debian's python3-torch lives under /usr/bin/python3, which an
# earlier python3 on PATH may shadow).
py=""
for cand in "${PYTHON:-}" python3 /usr/bin/python3; do
  if [[ -n "$cand" ]] && "$cand" -c "import torch, numpy" 2>/dev/null; then py=$cand; break; fi
done
build=${1:?usage: $0 BUILD_DIR [MNIST_DIR] [FLOAT_MODEL]}
data=${2:-${TFQAT_CACHE:-.cache}/mnist/data}
model=${3:-build/demo/lenet_float.pb}
here=$(cd "$(dirname "$0")" && pwd)
tfqat="$build/cli/tfqat"
for f in "$data/train_images.npy" "$model" "$tfqat"; do
  if [[ ! -e "$f" ]]; then
    echo "pipeline_vs_torch: missing $f (run \`make demo\` first: it builds tfqat, fetches MNIST and trains the float model)" >&2
    exit 2
  fi
done
have_torch=0
if [[ -n "$py" ]]; then have_torch=1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %14s %14s %8s %s\n' threads "tfqat (s)" "PyTorch (s)" ratio "tfqat stages"
for t in 1 2; do
  "$tfqat" pipeline "$model" --data "$data/train_images.npy" --labels "$data/train_labels.npy" \
    --val-data "$data/test_images.npy" --val-labels "$data/test_labels.npy" --outputs logits \
    --inference-type int8 --epochs 1 --lr 0.0001 --threads "$t" --quiet --json \
    -o "$work/lenet_$t.tflite" --work-dir "$work/pipeline_$t" > "$work/tfqat_$t.json" 2> "$work/tfqat_$t.log" ||
    { cat "$work/tfqat_$t.log" >&2; exit 1; }
  ours=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['total_seconds'])" "$work/tfqat_$t.json")
  stages=$(python3 -c "import json,sys; print(' '.join('%s %.2f' % (s['stage'], s['seconds']) for s in json.load(open(sys.argv[1]))['stages']))" "$work/tfqat_$t.json")
  if [[ $have_torch == 1 ]]; then
    "$py" "$here/pipeline_vs_torch.py" --data "$data" --epochs 1 --threads "$t" > "$work/torch_$t.json"
    theirs=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['total_s'])" "$work/torch_$t.json")
    ratio=$(python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$ours" "$theirs")
  else
    theirs="-"; ratio="-"
  fi
  printf '%-8s %14.2f %14s %8s %s\n' "$t" "$ours" "$theirs" "$ratio" "$stages"
  [[ $have_torch == 1 ]] && echo "         PyTorch: $(cat "$work/torch_$t.json")"
done
[[ $have_torch == 1 ]] || echo "PyTorch not installed (python3 -c 'import torch' failed): only tfqat measured"
