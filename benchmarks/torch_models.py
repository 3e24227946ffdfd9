#!/usr/bin/python3
"""The PyTorch side of benchmarks/models_vs_pytorch: trains tapegrad-mnist's lenet, cnn or lstm.

The same problems as `tapegrad-mnist --model lenet|cnn|lstm` with its defaults (see
src/programs/mnist/models.cpp, config.cpp and training.cpp):

  lenet  1x28x28 -> Conv2d(1,6,5,pad 2) ReLU MaxPool(2) -> Conv2d(6,16,5) ReLU MaxPool(2)
         -> Flatten 400 -> Linear 120 ReLU -> Linear 84 ReLU -> Linear 10          (61,706 params)
  cnn    1x28x28 -> Conv2d(1,32,3) ReLU -> Conv2d(32,64,3) ReLU -> MaxPool(2) -> Dropout(0.25)
         -> Flatten 9216 -> Linear 128 ReLU -> Dropout(0.5) -> Linear 10          (1,199,882 params)
  lstm   28 steps of 28 pixels (image rows) -> LSTM(28, 128, batch_first) -> last step's h
         -> Linear 10                                                              (82,186 params)

Initialisation as tapegrad's: convolutions and the LSTM keep PyTorch's defaults (tapegrad copies
them: U(-1/sqrt(fan_in), ..) and U(-1/sqrt(H), ..)), every Linear is He-normal (fan_in, gain
sqrt(2)) with a zero bias (tg::Dense's default). Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8) with
tapegrad-mnist's default cosine schedule (CosineAnnealingLR, T_max = epochs, eta_min = 1e-5,
stepped once per epoch), softmax cross-entropy (mean over the batch), batch 64, a fresh shuffle
every epoch, the last partial batch kept.

Pixels are pixel / 255 as float32, NOT standardised: tapegrad-mnist leaves the Dataset's
Normalization at its default (mean 0, stddev 1), so its BatchIterator hands the model
pixel / 255. The whole data set is preloaded as float tensors in the model's input shape
(N x 1 x 28 x 28, or N x 28 x 28 for the LSTM) before any timing.

Only the training loop is timed (time.perf_counter around the epoch, per-batch loss and
accuracy bookkeeping included, as tg::fit does); the test set is evaluated after each epoch in
batches of 256 (as tapegrad-mnist) outside the clock. --no-test skips it (thread probes).
Writes one JSON object to --out (or stdout).

Threads are the caller's: --threads is torch.set_num_threads (intra-op, OpenMP: oneDNN
convolutions, the LSTM's elementwise ops); the sgemm inside nn.Linear / the LSTM's GEMMs goes to
Debian's OpenBLAS, whose threads come from OPENBLAS_NUM_THREADS in the environment.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch

MODELS = ("lenet", "cnn", "lstm")


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = bytearray(f.read())  # writable, so frombuffer shares it without a copy
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = torch.frombuffer(raw, dtype=torch.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def find(folder, stem):
    for sep in ("-", "."):  # the names tg::find_mnist_file accepts
        for ext in ("", ".gz"):
            path = os.path.join(folder, stem.replace("-idx", sep + "idx") + ext)
            if os.path.exists(path):
                return path
    raise SystemExit(f"{folder}: no {stem}")


def load(folder, model, train_limit):
    """pixel / 255 (tapegrad-mnist's scaling), shaped for the model's input. The limit is
    applied to the bytes (as tg::Dataset::take) and the floats are scaled in place, so no
    transient second copy of the float images inflates the peak RSS."""
    shape = (-1, 28, 28) if model == "lstm" else (-1, 1, 28, 28)

    def images(stem, limit=0):
        raw = read_idx(find(folder, stem))
        if limit > 0:
            raw = raw[:limit]
        return raw.float().div_(255.0).reshape(shape).contiguous()

    def labels(stem, limit=0):
        raw = read_idx(find(folder, stem))
        return (raw[:limit] if limit > 0 else raw).long()

    return (images("train-images-idx3-ubyte", train_limit),
            labels("train-labels-idx1-ubyte", train_limit),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


def dense(i, o):
    """tg::Dense's default: He-normal weight (fan_in), zero bias."""
    m = torch.nn.Linear(i, o)
    torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    torch.nn.init.zeros_(m.bias)
    return m


class LastStep(torch.nn.Module):
    """LSTM output N x T x H -> the last step's h, N x H (models.cpp's LastStep)."""

    def forward(self, out):
        return out[0][:, -1, :]


def build(model):
    nn = torch.nn
    if model == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            dense(16 * 5 * 5, 120), nn.ReLU(), dense(120, 84), nn.ReLU(), dense(84, 10))
    if model == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.25), nn.Flatten(), dense(64 * 12 * 12, 128), nn.ReLU(), nn.Dropout(0.5),
            dense(128, 10))
    if model == "lstm":
        return nn.Sequential(nn.LSTM(28, 128, batch_first=True), LastStep(), dense(128, 10))
    raise SystemExit(f"--model: unknown {model!r} (known: {', '.join(MODELS)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=MODELS, required=True)
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--flush-denormal", choices=["on", "off"], default="on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int, default=0, help="first N training images only")
    ap.add_argument("--no-test", action="store_true", help="skip the test-set evaluation")
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(a.flush_denormal == "on")
    torch.manual_seed(a.seed)
    x_train, y_train, x_test, y_test = load(a.data, a.model, a.train_limit)
    model = build(a.model)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, a.epochs), eta_min=1e-5)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x_train.shape[0]

    epochs = []
    for epoch in range(a.epochs):
        model.train()
        lr = opt.param_groups[0]["lr"]
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
        sched.step()
        e = {"epoch": epoch + 1, "train_seconds": seconds, "samples_per_second": n / seconds,
             "train_loss": float(loss_sum) / n, "train_accuracy": correct / n, "lr": lr}
        if not a.no_test:
            model.eval()
            with torch.no_grad():  # not timed; batches of 256 as tapegrad-mnist's test pass
                test_out = torch.cat([model(x_test[i:i + 256])
                                      for i in range(0, x_test.shape[0], 256)])
                e["test_loss"] = float(loss_fn(test_out, y_test))
                e["test_accuracy"] = float((test_out.argmax(1) == y_test).float().mean())
        epochs.append(e)
        print(f"torch {a.model} epoch {epoch + 1}/{a.epochs}: {seconds:.2f} s, test accuracy "
              f"{e.get('test_accuracy', float('nan')):.4f}", file=sys.stderr)

    result = {"library": "pytorch", "torch_version": torch.__version__,
              "config": {"model": a.model, "batch": a.batch, "threads": torch.get_num_threads(),
                         "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                         "flush_denormal": a.flush_denormal, "epochs": a.epochs, "seed": a.seed,
                         "train_samples": n, "parameters": params},
              "epochs": epochs,
              "test_accuracy": epochs[-1].get("test_accuracy") if epochs else None}
    text = json.dumps(result, indent=2) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
