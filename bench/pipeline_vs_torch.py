#!/usr/bin/env python3
"""PyTorch's side of the pipeline comparison (run by bench/pipeline_vs_torch.sh).

Same LeNet, same MNIST split, same batch size and number of epochs as `tfqat pipeline`:
train the float model (not timed), then time PyTorch's eager-mode QAT path:
fuse -> prepare_qat -> fine-tune N epochs -> convert (int8, fbgemm) -> evaluate on the test set.
Prints one JSON object.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.ao.quantization as tq


# The same LeNet as the trainer's epoch comparison (bench/ is on sys.path when run as a script).
from qat_epoch_vs_torch import LeNet


def run_epochs(model, x, y, epochs, batch, lr, seed):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with train/test _images.npy, _labels.npy")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--float-epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    load = lambda n: np.load(f"{a.data}/{n}.npy")
    # NHWC uint8 -> NCHW float in [0, 1]
    xtr = torch.from_numpy(load("train_images").astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    ytr = torch.from_numpy(load("train_labels").astype(np.int64))
    xte = torch.from_numpy(load("test_images").astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    yte = torch.from_numpy(load("test_labels").astype(np.int64))

    model = LeNet()
    t0 = time.perf_counter()
    run_epochs(model, xtr, ytr, a.float_epochs, a.batch, a.lr, a.seed)
    float_train_s = time.perf_counter() - t0
    model.eval()
    float_acc = accuracy(model, xte, yte)

    t0 = time.perf_counter()
    model.train()
    tq.fuse_modules_qat(model, [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]], inplace=True)
    model.qconfig = tq.get_default_qat_qconfig("fbgemm")
    tq.prepare_qat(model, inplace=True)
    t_prepare = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_epochs(model, xtr, ytr, a.epochs, a.batch, a.lr * 0.1, a.seed + 1)
    t_qat = time.perf_counter() - t1
    model.eval()
    fq_acc = accuracy(model, xte, yte)
    t2 = time.perf_counter()
    qmodel = tq.convert(model, inplace=False)
    t_convert = time.perf_counter() - t2
    t3 = time.perf_counter()
    int8_acc = accuracy(qmodel, xte, yte)
    t_eval = time.perf_counter() - t3
    total = time.perf_counter() - t0
    print(json.dumps({
        "peer": f"PyTorch {torch.__version__} eager QAT (fbgemm)",
        "threads": a.threads, "epochs": a.epochs, "batch": a.batch,
        "float_train_s": round(float_train_s, 3), "float_accuracy": float_acc,
        "prepare_s": round(t_prepare, 3), "qat_finetune_s": round(t_qat, 3),
        "convert_s": round(t_convert, 3), "evaluate_s": round(t_eval, 3),
        "total_s": round(total, 3), "fake_quant_accuracy": fq_acc, "int8_accuracy": int8_acc,
    }))


if __name__ == "__main__":
    main()
