#!/usr/bin/env bash
# The MobileNet-v1 example at scale: build the GraphDef (depthwise-separable, batch norms, ReLU6,
# random weights, 224x224 input), then rewrite -> calibrate on synthetic data -> freeze -> audit
# -> convert (int8) -> run -> bench, timing each stage.
# Usage: examples/mobilenet/run.sh BUILD [ALPHA] [OUT_DIR]
set -euo pipefail
build=${1:-build/release}
alpha=${2:-0.25}
out=${3:-build/mobilenet}
tfqat="$build/cli/tfqat"
mkdir -p "$out"
stage() { local name=$1; shift; local t0=$(date +%s.%N); "$@"; local t1=$(date +%s.%N);
          printf '%-10s %7.2f s\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" >> "$out/stages.txt"; }
: > "$out/stages.txt"
stage build    "$build/examples/tfqat_example_mobilenet" "$out/mobilenet_v1.pb" --alpha "$alpha"
stage data     "$build/examples/tfqat_example_mobilenet_data" "$out/calib.npy" "$out/calib_labels.npy" 16 "$out/first.npy"
stage rewrite  "$tfqat" rewrite "$out/mobilenet_v1.pb" -o "$out/train.pb" --mode train --per-channel --symmetric \
                 --quantize-inputs -q
stage calibrate "$tfqat" train "$out/train.pb" --data "$out/calib.npy" --labels "$out/calib_labels.npy" \
                 --logits MobilenetV1/Logits/SpatialSqueeze --calibrate-only --batch 4 --threads 2 --quiet -o "$out/calibrated.pb"
stage freeze   "$tfqat" freeze "$out/calibrated.pb" -o "$out/frozen.pb" --outputs MobilenetV1/Predictions/Softmax
stage audit    "$tfqat" audit "$out/frozen.pb"
stage convert  "$tfqat" convert "$out/frozen.pb" -o "$out/mobilenet_v1_int8.tflite" --inference-type int8 \
                 --input-arrays input --input-shapes 1,224,224,3
stage run      "$tfqat" run "$out/mobilenet_v1_int8.tflite" --input "$out/first.npy" --out-dir "$out/outputs"
stage bench    "$tfqat" bench "$out/mobilenet_v1_int8.tflite" --runs 20 --threads 2
echo; echo "stage times:"; cat "$out/stages.txt"
