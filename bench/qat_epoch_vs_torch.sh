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
echo "== tfqat trainer (bench/trainer_qat_epoch)"
TFQAT_MNIST_DIR="$data" "$build/bench/trainer_qat_epoch" --benchmark_format=console
if [[ -n "$py" ]]; then
  for t in 1 2; do
    echo "== PyTorch, $t thread(s)"
    "$py" "$here/qat_epoch_vs_torch.py" --data "$data" --threads "$t"
  done
else
  echo "== PyTorch not installed (python3 -c 'import torch' failed): only tfqat measured"
fi
