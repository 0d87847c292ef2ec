#!/usr/bin/env python3
"""PyTorch side of bench/conv_peers.sh for MNIST LeNet int8 inference, batch 256.

The LeNet of examples/mnist (conv5x5 1->16 + ReLU + maxpool2, conv5x5 16->32 + ReLU + maxpool2,
FC 512->128 + ReLU, FC 128->10), eager post-training static quantization (fuse conv/linear+ReLU,
per-channel int8 weights, quint8 activations; random weights, calibrated on random digits). Timed
from a quint8 NHWC batch to the quantized logits (no quantize/dequantize: the same span as
`tfqat bench` on the int8 .tflite). Prints one JSON line: {"peer", "engine", "threads",
"batch", "median_ms", "min_ms", "images_per_s"}.
Usage: lenet_peers.py --threads N [--engine onednn|qnnpack|fbgemm|x86] [--runs R] [--batch B]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(512, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc2(self.relu3(self.fc1(x)))


class Quantized(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.body = body
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.body(self.quant(x)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--engine", default="onednn")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(3)
    torch.backends.quantized.engine = args.engine
    body = LeNet().eval()
    body = torch.ao.quantization.fuse_modules(
        body, [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]])
    model = Quantized(body).eval()
    model.qconfig = torch.ao.quantization.get_default_qconfig(args.engine)
    torch.ao.quantization.prepare(model, inplace=True)
    with torch.no_grad():
        for _ in range(4):
            model(torch.rand(args.batch, 1, 28, 28))
    torch.ao.quantization.convert(model, inplace=True)
    x = torch.rand(args.batch, 1, 28, 28)
    xq = model.quant(x).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        for i in range(args.warmup + args.runs):
            t0 = time.perf_counter()
            model.body(xq)
            if i >= args.warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(times)
    print(json.dumps({"peer": "pytorch", "engine": args.engine, "threads": args.threads,
                      "batch": args.batch, "median_ms": round(med, 4), "min_ms": round(min(times), 4),
                      "images_per_s": round(args.batch / med * 1e3)}), flush=True)


if __name__ == "__main__":
    main()
