#!/usr/bin/python3
"""The PyTorch side of benchmarks/epoch_vs_pytorch: trains the same MLP as tapegrad-mnist.

Same problem as `tapegrad-mnist --optimizer adam --init he --activation relu`:
784-h1-...-10 ReLU MLP, He-normal weights (fan_in, gain sqrt(2)) and zero biases, Adam
(lr 1e-3, betas 0.9/0.999, eps 1e-8), softmax cross-entropy (mean over the batch), a fresh
shuffle of the training set every epoch, the last partial batch kept. Pixels are scaled to
[0, 1] and standardised with the training set's mean and standard deviation, like tapegrad's
BatchIterator, and the whole data set is preloaded as float32 tensors before any timing.

Only the training loop is timed (time.perf_counter around the epoch); the test-set evaluation
after each epoch is not. Writes one JSON object to --out (or stdout).

The thread settings are the caller's: --threads is torch.set_num_threads (intra-op, OpenMP);
the sgemm inside nn.Linear goes to Debian's OpenBLAS (BLAS_INFO=generic ->
openblas-pthread), whose own threads come from OPENBLAS_NUM_THREADS in the environment.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8)
    return data.reshape(dims)


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise SystemExit(f"{folder}: no {stem}")


def load(folder):
    x_train = read_idx(find(folder, "train-images-idx3-ubyte")).reshape(-1, 784).float() / 255.0
    y_train = read_idx(find(folder, "train-labels-idx1-ubyte")).long()
    x_test = read_idx(find(folder, "t10k-images-idx3-ubyte")).reshape(-1, 784).float() / 255.0
    y_test = read_idx(find(folder, "t10k-labels-idx1-ubyte")).long()
    mean, std = x_train.mean(), x_train.std(unbiased=False)
    return ((x_train - mean) / std).contiguous(), y_train, ((x_test - mean) / std).contiguous(), y_test


def build(hidden):
    layers, width = [], 784
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, 10))
    model = torch.nn.Sequential(*layers)
    for m in model:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--flush-denormal", choices=["on", "off"], default="on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(a.flush_denormal == "on")
    torch.manual_seed(a.seed)
    x_train, y_train, x_test, y_test = load(a.data)
    if a.train_limit > 0:
        x_train, y_train = x_train[: a.train_limit].contiguous(), y_train[: a.train_limit]
    hidden = [int(h) for h in a.hidden.split(",") if h]
    model = build(hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x_train.shape[0]

    epochs = []
    for epoch in range(a.epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(n)
        loss_sum = torch.zeros(())
        correct = 0
        for lo in range(0, n, a.batch):
            idx = order[lo:lo + a.batch]
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            with torch.no_grad():  # the same per-batch bookkeeping as tg::fit
                loss_sum += loss.detach() * yb.shape[0]
                correct += int((out.argmax(1) == yb).sum())
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():  # not timed
            test_out = torch.cat([model(x_test[i:i + 1000]) for i in range(0, x_test.shape[0], 1000)])
            test_loss = float(loss_fn(test_out, y_test))
            test_acc = float((test_out.argmax(1) == y_test).float().mean())
        epochs.append({"epoch": epoch + 1, "train_seconds": seconds, "samples_per_second": n / seconds,
                       "train_loss": float(loss_sum) / n, "train_accuracy": correct / n,
                       "test_loss": test_loss, "test_accuracy": test_acc})
        print(f"torch epoch {epoch + 1}/{a.epochs}: {seconds:.2f} s, test accuracy {test_acc:.4f}",
              file=sys.stderr)

    result = {"library": "pytorch", "torch_version": torch.__version__,
              "config": {"batch": a.batch, "hidden": a.hidden, "threads": torch.get_num_threads(),
                         "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                         "flush_denormal": a.flush_denormal, "epochs": a.epochs, "seed": a.seed,
                         "train_samples": n},
              "epochs": epochs, "test_accuracy": epochs[-1]["test_accuracy"] if epochs else None}
    text = json.dumps(result, indent=2) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
