#!/usr/bin/env python3
"""PyTorch's side of the trainer's epoch benchmark (run by bench/qat_epoch_vs_torch.sh).

The LeNet of tests/trainer/lenet.h (conv5x5 1->16 + ReLU + maxpool2, conv5x5 16->32 + ReLU +
maxpool2, FC 512->128 + ReLU, FC 128->10), batch 64, SGD momentum 0.9, lr 0.01, one epoch over
the first 8000 images of DIR/train_images.npy (uint8 scaled by 1/255). Times a float epoch and
an eager-mode QAT epoch (prepare_qat, fbgemm qconfig: fake quant on weights and activations)
for the given thread count. Prints one JSON object.
"""
import argparse
import json
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.ao.quantization as tq


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(512, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)
        x = self.relu3(self.fc1(x))
        return self.dequant(self.fc2(x))


def epoch(model, x, y, batch):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for b in range(0, x.shape[0], batch):
        idx = perm[b:b + batch]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with train_images.npy, train_labels.npy")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = np.load(f"{a.data}/train_images.npy")[: a.n].astype(np.float32) / 255.0
    x = torch.from_numpy(x.reshape(-1, 1, 28, 28))
    y = torch.from_numpy(np.load(f"{a.data}/train_labels.npy")[: a.n].astype(np.int64))
    model = LeNet()
    model.train()
    float_s = epoch(model, x, y, a.batch)
    qat = LeNet()
    qat.train()
    qat.qconfig = tq.get_default_qat_qconfig("fbgemm")
    tq.prepare_qat(qat, inplace=True)
    qat_s = epoch(qat, x, y, a.batch)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"threads": a.threads, "float_epoch_s": float_s, "qat_epoch_s": qat_s,
                      "peak_rss_MiB": rss, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
