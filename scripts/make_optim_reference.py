#!/usr/bin/python3
"""Writes tests/fixtures/optim_reference.txt: PyTorch's parameter trajectories for the
optimizer tests in tests/optim_test.cpp.

Run from the repository root with Debian's torch (python3-torch 1.13):
    /usr/bin/python3 scripts/make_optim_reference.py

The problem: parameters W (3x4) and b (1x4), fixed scales A (3x4), B (1x4) and targets
TW (3x4), Tb (1x4), and the loss
    sum((A * W - TW)^2) + sum((B * b - Tb)^2)      (mse_loss with reduction='sum')
a quadratic with a different curvature (2 A^2) for every element. For each optimizer
configuration it starts from the same W and b and records W and b after each of the first 10
steps. The C++ test computes the same loss and gradient with tapegrad's ops (mul, mse, add)
and must reproduce every value.

Why this loss: its gradient 2 (A W - TW) A has one rounding per operation, taken in the same
order by PyTorch and tapegrad, so both get bit-identical gradients and any difference in the
trajectories is the optimizer's. A softmax classifier (cross-entropy of x . W + b) was tried
first: there the two libraries' gradients differ in the last bit (log_softmax backward and
MKL's GEMM against tapegrad's fused softmax - one_hot and OpenBLAS), which alone moved SGD's
trajectory by up to 1e-5 relative in values near zero.

Format (one record a line, whitespace separated, '#' starts a comment line):
    tensor NAME ROWS COLS v0 v1 ...        A, B, TW, Tb and the initial W and b
    case NAME OPTIMIZER [key=value ...]    options not listed keep their defaults
    step K W(12 values) b(4 values)        values after step K (1-based)
Floats are written with 9 significant digits, so they parse back to the same float32.
"""
import os
import sys

import torch

STEPS = 10

# Only the options that differ from PyTorch's defaults; the C++ side starts from its own
# defaults, so this also checks that the defaults agree.
CASES = [
    ("sgd_plain", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_weight_decay", "sgd", dict(lr=0.1, weight_decay=0.1)),
    ("sgd_dampening", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("sgd_all", "sgd", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("rmsprop_plain", "rmsprop", dict()),
    ("rmsprop_momentum", "rmsprop", dict(momentum=0.9)),
    ("rmsprop_centered", "rmsprop", dict(centered=True)),
    ("rmsprop_weight_decay", "rmsprop", dict(weight_decay=0.1)),
    ("rmsprop_all", "rmsprop", dict(lr=0.02, alpha=0.9, eps=1e-6, momentum=0.5, centered=True,
                                    weight_decay=0.05)),
    ("adam_plain", "adam", dict(lr=0.05)),
    ("adam_amsgrad", "adam", dict(lr=0.05, amsgrad=True)),
    ("adam_weight_decay", "adam", dict(lr=0.05, weight_decay=0.1)),
    ("adam_all", "adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05,
                              amsgrad=True)),
    ("adamw_default", "adamw", dict()),
    ("adamw_plain", "adamw", dict(lr=0.05)),
    ("adamw_amsgrad", "adamw", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
]


def fmt(t):
    return " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist())


def option_text(options):
    parts = []
    for key, value in options.items():
        if key == "betas":
            parts += ["beta1=%r" % value[0], "beta2=%r" % value[1]]
        elif isinstance(value, bool):
            parts.append("%s=%d" % (key, int(value)))
        else:
            parts.append("%s=%r" % (key, value))
    return " ".join(parts)


def make_optimizer(kind, params, options):
    # foreach=False: the plain per-tensor loop, which is what 1.13 runs by default on CPU.
    if kind == "sgd":
        return torch.optim.SGD(params, foreach=False, **options)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, foreach=False, **options)
    if kind == "adam":
        return torch.optim.Adam(params, foreach=False, **options)
    if kind == "adamw":
        return torch.optim.AdamW(params, foreach=False, **options)
    raise ValueError(kind)


def main():
    torch.manual_seed(20240607)
    A = torch.empty(3, 4).uniform_(0.3, 1.5)
    B = torch.empty(1, 4).uniform_(0.3, 1.5)
    TW = torch.randn(3, 4)
    Tb = torch.randn(1, 4)
    W0 = 0.5 * torch.randn(3, 4)
    b0 = 0.5 * torch.randn(1, 4)
    mse = torch.nn.functional.mse_loss

    lines = [
        "# PyTorch reference trajectories for tests/optim_test.cpp.",
        "# Made by scripts/make_optim_reference.py with torch %s; do not edit by hand."
        % torch.__version__,
        "# Loss: sum((A * W - TW)^2) + sum((B * b - Tb)^2).",
        "tensor A 3 4 " + fmt(A),
        "tensor B 1 4 " + fmt(B),
        "tensor TW 3 4 " + fmt(TW),
        "tensor Tb 1 4 " + fmt(Tb),
        "tensor W 3 4 " + fmt(W0),
        "tensor b 1 4 " + fmt(b0),
    ]
    for name, kind, options in CASES:
        W = W0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True)
        opt = make_optimizer(kind, [W, b], options)
        lines.append(("case %s %s %s" % (name, kind, option_text(options))).rstrip())
        for k in range(1, STEPS + 1):
            opt.zero_grad()
            loss = mse(A * W, TW, reduction="sum") + mse(B * b, Tb, reduction="sum")
            loss.backward()
            opt.step()
            lines.append("step %d %s %s" % (k, fmt(W), fmt(b)))

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "fixtures", "optim_reference.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
