#!/usr/bin/env python3
"""PyTorch side of bench/conv_peers.sh: quantized int8 conv on the runtime benchmark shapes.

Times torch.ao quantized Conv2d (quint8 activations, per-channel qint8 weights, NHWC/channels_last,
the layout oneDNN prefers) and the float Conv2d on 1x64x56x56 -> 64, 3x3 pad 1 and 1x1, for one
thread count. Kernel only: quantized tensor in, quantized tensor out (no quantize/dequantize).
Prints one JSON line per case: {"peer", "engine", "conv", "type", "threads", "median_ms", "min_ms"}.
Usage: conv_peers.py --threads N [--engine onednn|qnnpack|fbgemm|x86] [--runs R] [--warmup W]
"""
import argparse
import json
import statistics
import time

import torch


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--engine", default="onednn")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    if args.engine not in torch.backends.quantized.supported_engines:
        raise SystemExit("conv_peers.py: engine %s not in %s" % (args.engine, torch.backends.quantized.supported_engines))
    torch.backends.quantized.engine = args.engine
    qconv = torch.ao.nn.quantized.Conv2d
    for k in (3, 1):
        x = torch.rand(1, 64, 56, 56) * 2 - 1
        conv_f = torch.nn.Conv2d(64, 64, k, padding=k // 2).eval()
        xq = torch.quantize_per_tensor(x, 2 / 255, 128, torch.quint8).contiguous(memory_format=torch.channels_last)
        w = conv_f.weight.detach()
        scales = w.abs().amax(dim=(1, 2, 3)) / 127
        wq = torch.quantize_per_channel(w, scales, torch.zeros(64, dtype=torch.long), 0, torch.qint8)
        q = qconv(64, 64, k, padding=k // 2)
        q.set_weight_bias(wq, conv_f.bias.detach())
        q.scale, q.zero_point = 0.05, 128
        with torch.no_grad():
            med, mn = timed(lambda: q(xq), args.runs, args.warmup)
            print(json.dumps({"peer": "pytorch", "engine": args.engine, "conv": "%dx%d" % (k, k), "type": "u8s8",
                              "threads": args.threads, "median_ms": round(med, 4), "min_ms": round(mn, 4)}), flush=True)
            xf = x.contiguous(memory_format=torch.channels_last)
            conv_f = conv_f.to(memory_format=torch.channels_last)
            med, mn = timed(lambda: conv_f(xf), args.runs, args.warmup)
            print(json.dumps({"peer": "pytorch", "engine": "mkldnn-f32", "conv": "%dx%d" % (k, k), "type": "f32",
                              "threads": args.threads, "median_ms": round(med, 4), "min_ms": round(mn, 4)}), flush=True)

    # Depthwise 3x3 SAME on 56x56x128 (bench/runtime_conv.cc's BM_Depthwise*).
    x = torch.rand(1, 128, 56, 56) * 2 - 1
    dw = torch.nn.Conv2d(128, 128, 3, padding=1, groups=128).eval()
    xq = torch.quantize_per_tensor(x, 2 / 255, 128, torch.quint8).contiguous(memory_format=torch.channels_last)
    w = dw.weight.detach()
    wq = torch.quantize_per_channel(w, w.abs().amax(dim=(1, 2, 3)) / 127, torch.zeros(128, dtype=torch.long), 0,
                                    torch.qint8)
    q = qconv(128, 128, 3, padding=1, groups=128)
    q.set_weight_bias(wq, dw.bias.detach())
    q.scale, q.zero_point = 0.05, 128
    with torch.no_grad():
        med, mn = timed(lambda: q(xq), args.runs, args.warmup)
    print(json.dumps({"peer": "pytorch", "engine": args.engine, "conv": "dw3x3", "type": "u8s8",
                      "threads": args.threads, "median_ms": round(med, 4), "min_ms": round(mn, 4)}), flush=True)


if __name__ == "__main__":
    main()
