#!/usr/bin/python3
"""Writes tests/fixtures/op_reference.txt: PyTorch's values and gradients for every op that
tests/op_reference_test.cpp checks tapegrad against.

Run from anywhere with Debian's torch (python3-torch 1.13):
    /usr/bin/python3 scripts/make_op_reference.py

Each case draws its float32 inputs after torch.manual_seed(crc32(name)), so a case's numbers do
not depend on the cases around it and adding a case changes no other. The reference is computed
in float64 from those float32 inputs (so it is the exact answer up to float64 rounding, not
PyTorch's own float32 rounding), and the output and gradients are rounded to float32 when
written. The seed is a random normal upstream gradient dL/d(output); each grad line is the
vector-Jacobian product of the output with that seed, for one input in order.

Inputs are kept away from the points where an op has a kink or a tie (abs, relu and l1 away
from 0, clamp away from its bounds, maximum/minimum and max/min away from ties, huber and
smooth_l1 away from |d| = delta), where the two libraries may legitimately pick different
subgradients, and away from where the ops are ill-conditioned (division by small numbers).

Format (one record a line, whitespace separated, '#' starts a comment line):
    case NAME
    input RANK DIMS... VALUES...      one line per input, in order; each needs a gradient
    ints COUNT VALUES...              (optional) labels, indices, a 0/1 mask
    target RANK DIMS... VALUES...     (optional) a constant tensor: a loss's target
    weight RANK DIMS... VALUES...     (optional) a constant tensor: class weights, pos_weight
    output RANK DIMS... VALUES...
    seed RANK DIMS... VALUES...       dL/d(output)
    grad K RANK DIMS... VALUES...     dL/d(input K), one line per input
    end
A rank-0 tensor is written "0 VALUE". Floats are written with 9 significant digits, so they
parse back to the same float32. The op's other arguments (dims, exponents, reductions) are part
of the case: the C++ side knows them by the case's name, and they are listed below beside it.
"""
import os
import sys
import warnings
import zlib

import torch
import torch.nn.functional as F

CASES = []  # (family, name, maker); a maker returns a dict, see case() below


def case(family, name):
    """Registers a case. The decorated function draws the float32 inputs and returns a dict:
    inputs (list of float32 tensors), fn (float64 inputs -> float64 output), and optionally
    ints (list of ints), target, weight (float32 tensors; fn sees them through closures)."""

    def register(maker):
        CASES.append((family, name, maker))
        return maker

    return register


# ---- inputs ----


def randn(*shape):
    return torch.randn(tuple(shape), dtype=torch.float32)


def uniform(shape, lo, hi, avoid=(), gap=0.05):
    """Uniform in [lo, hi) at least `gap` from each point in `avoid` (redrawn until so)."""
    x = torch.empty(shape, dtype=torch.float32).uniform_(lo, hi)
    for _ in range(1000):
        bad = torch.zeros(shape, dtype=torch.bool)
        for p in avoid:
            bad |= (x - p).abs() < gap
        if not bad.any():
            return x
        x = torch.where(bad, torch.empty(shape, dtype=torch.float32).uniform_(lo, hi), x)
    raise RuntimeError("could not draw values away from %r" % (avoid,))


def signed(shape, lo, hi):
    """Magnitude uniform in [lo, hi), random sign: away from zero."""
    sign = torch.where(torch.rand(shape) < 0.5, -1.0, 1.0)
    return (sign * torch.empty(shape).uniform_(lo, hi)).float()


def distinct(shape, spacing=0.1):
    """Values all different from each other by at least `spacing` (no ties), shuffled."""
    n = 1
    for s in shape:
        n *= s
    values = (torch.randperm(n).float() - n / 2) * spacing + torch.rand(n) * spacing * 0.3
    return values.reshape(shape).float()


def untie(a, b, gap=0.05):
    """Moves the elements of a (which must have the broadcast shape) that are within gap of
    b, so that max/min of a and b has no ties."""
    d = a - b
    step = torch.where(d >= 0, 0.1, -0.1)
    return torch.where(d.abs() < gap, a + step, a).float()


def distribution(*shape):
    """Rows (along the last dim) of a positive probability distribution."""
    return torch.softmax(torch.randn(*shape), dim=-1).float()


# ---- arith ----

BINARY_SHAPES = [
    ("same", (2, 3), (2, 3)),
    ("bcast_3x1", (2, 3, 4), (3, 1)),
    ("bcast_vec", (2, 3, 4), (4,)),
    ("bcast_1x1", (2, 3, 4), (1, 1)),
    ("bcast_rank0", (2, 3, 4), ()),
    ("bcast_rank0_lhs", (), (2, 3, 4)),
    ("bcast_both", (3, 1), (1, 4)),
    ("nchw", (2, 3, 2, 2), (1, 3, 1, 1)),
]


def binary_cases(op, fn, second=lambda shape: randn(*shape)):
    for suffix, sa, sb in BINARY_SHAPES:
        def maker(sa=sa, sb=sb):
            return dict(inputs=[randn(*sa), second(sb)], fn=fn)

        case("arith", "%s_%s" % (op, suffix))(maker)


binary_cases("add", lambda a, b: a + b)
binary_cases("sub", lambda a, b: a - b)
binary_cases("mul", lambda a, b: a * b)
binary_cases("div", lambda a, b: a / b, second=lambda shape: signed(shape, 0.5, 2.0))


@case("arith", "neg")
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: -x)


@case("arith", "scale")  # scale(x, -1.5)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: -1.5 * x)


@case("arith", "add_scalar")  # add_scalar(x, 0.75)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x + 0.75)


@case("arith", "pow_scalar_2_5")  # pow(x, 2.5), x > 0
def _():
    return dict(inputs=[uniform((2, 3, 4), 0.3, 2.0)], fn=lambda x: x ** 2.5)


@case("arith", "pow_scalar_m1_5")  # pow(x, -1.5), x > 0
def _():
    return dict(inputs=[uniform((3, 4), 0.5, 2.0)], fn=lambda x: x ** -1.5)


@case("arith", "pow_scalar_2")  # pow(x, 2.0), any sign
def _():
    return dict(inputs=[randn(3, 4)], fn=lambda x: x ** 2.0)


@case("arith", "pow_tensor_same")  # pow(x, y), x > 0
def _():
    return dict(inputs=[uniform((3, 4), 0.3, 2.0), randn(3, 4)], fn=torch.pow)


@case("arith", "pow_tensor_bcast")  # pow(x 2x3x4, y 3x1)
def _():
    return dict(inputs=[uniform((2, 3, 4), 0.3, 2.0), randn(3, 1)], fn=torch.pow)


@case("arith", "pow_tensor_both_bcast")  # pow(x 2x1x4, y 3x1): both stretched, to 2x3x4
def _():
    return dict(inputs=[uniform((2, 1, 4), 0.3, 2.0), randn(3, 1)], fn=torch.pow)


@case("arith", "pow_base")  # pow(2.0f, x)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: torch.pow(2.0, x))


@case("arith", "sqrt")
def _():
    return dict(inputs=[uniform((2, 3, 4), 0.2, 3.0)], fn=torch.sqrt)


@case("arith", "abs")
def _():
    return dict(inputs=[signed((2, 3, 4), 0.1, 2.0)], fn=torch.abs)


@case("arith", "square")
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=torch.square)


@case("arith", "exp")
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=torch.exp)


@case("arith", "log")
def _():
    return dict(inputs=[uniform((2, 3, 4), 0.2, 4.0)], fn=torch.log)


@case("arith", "log1p")
def _():
    return dict(inputs=[uniform((2, 3, 4), -0.6, 3.0)], fn=torch.log1p)


@case("arith", "clamp")  # clamp(x, -0.5, 0.5)
def _():
    return dict(inputs=[uniform((2, 3, 4), -1.5, 1.5, avoid=(-0.5, 0.5))],
                fn=lambda x: torch.clamp(x, -0.5, 0.5))


@case("arith", "clamp_min")  # clamp_min(x, -0.25)
def _():
    return dict(inputs=[uniform((3, 4), -1.5, 1.5, avoid=(-0.25,))],
                fn=lambda x: torch.clamp(x, min=-0.25))


@case("arith", "clamp_max")  # clamp_max(x, 0.25)
def _():
    return dict(inputs=[uniform((3, 4), -1.5, 1.5, avoid=(0.25,))],
                fn=lambda x: torch.clamp(x, max=0.25))


for _op, _fn in (("maximum", torch.maximum), ("minimum", torch.minimum)):
    for _suffix, _sa, _sb in (("same", (2, 3), (2, 3)), ("bcast", (2, 3, 4), (3, 1)),
                              ("bcast_rank0", (2, 3, 4), ())):
        def _maker(sa=_sa, sb=_sb, fn=_fn):
            b = randn(*sb)
            return dict(inputs=[untie(randn(*sa), b), b], fn=fn)

        case("arith", "%s_%s" % (_op, _suffix))(_maker)


@case("arith", "where")  # where(mask 2x3x4 from ints, a 2x3x4, b 4)
def _():
    mask = (torch.rand(2, 3, 4) < 0.5).int()
    return dict(inputs=[randn(2, 3, 4), randn(4)], ints=mask.reshape(-1).tolist(),
                fn=lambda a, b: torch.where(mask.bool(), a, b))


@case("arith", "where_bcast")  # where(mask 2x3x4 from ints, a 3x1, b rank 0)
def _():
    mask = (torch.rand(2, 3, 4) < 0.5).int()
    return dict(inputs=[randn(3, 1), randn()], ints=mask.reshape(-1).tolist(),
                fn=lambda a, b: torch.where(mask.bool(), a, b))


# ---- reduce ----


@case("reduce", "sum_all")
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=torch.sum)


@case("reduce", "sum_all_nchw")
def _():
    return dict(inputs=[randn(2, 3, 2, 2)], fn=torch.sum)


@case("reduce", "mean_all")
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=torch.mean)


@case("reduce", "sum_dims_0_2")  # sum(x, {0, 2}, keepdim false)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x.sum(dim=[0, 2]))


@case("reduce", "sum_dims_last_keepdim")  # sum(x, {-1}, keepdim true)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x.sum(dim=[-1], keepdim=True))


@case("reduce", "sum_dims_nchw_keepdim")  # sum(x, {0, 2, 3}, keepdim true): per channel
def _():
    return dict(inputs=[randn(2, 3, 2, 2)], fn=lambda x: x.sum(dim=[0, 2, 3], keepdim=True))


@case("reduce", "mean_dims_0_2")  # mean(x, {0, 2}, keepdim false)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x.mean(dim=[0, 2]))


@case("reduce", "mean_dims_last_keepdim")  # mean(x, {-1}, keepdim true)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x.mean(dim=[-1], keepdim=True))


@case("reduce", "max_dim")  # max(x, 1, keepdim false)
def _():
    return dict(inputs=[distinct((2, 3, 4))], fn=lambda x: torch.max(x, dim=1).values)


@case("reduce", "max_dim_last_keepdim")  # max(x, -1, keepdim true)
def _():
    return dict(inputs=[distinct((2, 3, 4))],
                fn=lambda x: torch.max(x, dim=-1, keepdim=True).values)


@case("reduce", "min_dim")  # min(x, 1, keepdim false)
def _():
    return dict(inputs=[distinct((2, 3, 4))], fn=lambda x: torch.min(x, dim=1).values)


@case("reduce", "min_dim_last_keepdim")  # min(x, -1, keepdim true)
def _():
    return dict(inputs=[distinct((2, 3, 4))],
                fn=lambda x: torch.min(x, dim=-1, keepdim=True).values)


@case("reduce", "max_all")
def _():
    return dict(inputs=[distinct((3, 4))], fn=torch.max)


@case("reduce", "min_all")
def _():
    return dict(inputs=[distinct((3, 4))], fn=torch.min)


@case("reduce", "var_unbiased")  # var(x, {1}, unbiased true, keepdim false)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: torch.var(x, dim=[1], unbiased=True))


@case("reduce", "var_biased")  # var(x, {0, 2}, unbiased false, keepdim false)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: torch.var(x, dim=[0, 2], unbiased=False))


@case("reduce", "var_unbiased_last_keepdim")  # var(x, {-1}, unbiased true, keepdim true)
def _():
    return dict(inputs=[randn(2, 3, 4)],
                fn=lambda x: torch.var(x, dim=[-1], unbiased=True, keepdim=True))


@case("reduce", "logsumexp")  # logsumexp(x, 1, keepdim false)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: torch.logsumexp(x, dim=1))


@case("reduce", "logsumexp_last_keepdim")  # logsumexp(x, -1, keepdim true), large values
def _():
    return dict(inputs=[randn(3, 5) * 30], fn=lambda x: torch.logsumexp(x, dim=-1, keepdim=True))


# ---- shape ----


@case("shape", "reshape")  # reshape(x 2x3x4, {4, 6})
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x.reshape(4, 6))


@case("shape", "reshape_rank1")  # reshape(x 2x3x4, {24})
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x.reshape(24))


@case("shape", "flatten")  # flatten(x 2x3x2x2): all dims
def _():
    return dict(inputs=[randn(2, 3, 2, 2)], fn=torch.flatten)


@case("shape", "flatten_from_1")  # flatten(x 2x3x2x2, 1): N x (C H W)
def _():
    return dict(inputs=[randn(2, 3, 2, 2)], fn=lambda x: torch.flatten(x, 1))


@case("shape", "squeeze_dim")  # squeeze(x 2x1x3, 1)
def _():
    return dict(inputs=[randn(2, 1, 3)], fn=lambda x: x.squeeze(1))


@case("shape", "squeeze_all")  # squeeze(x 1x3x1x2)
def _():
    return dict(inputs=[randn(1, 3, 1, 2)], fn=lambda x: x.squeeze())


@case("shape", "unsqueeze")  # unsqueeze(x 2x3, 1)
def _():
    return dict(inputs=[randn(2, 3)], fn=lambda x: x.unsqueeze(1))


@case("shape", "unsqueeze_last")  # unsqueeze(x 2x3, -1)
def _():
    return dict(inputs=[randn(2, 3)], fn=lambda x: x.unsqueeze(-1))


@case("shape", "transpose")  # transpose(x 2x3x4, 0, 2)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x.transpose(0, 2))


@case("shape", "transpose_2d")  # transpose(x 3x5, 0, 1)
def _():
    return dict(inputs=[randn(3, 5)], fn=lambda x: x.transpose(0, 1))


@case("shape", "permute")  # permute(x 2x3x2x2, {0, 2, 3, 1}): NCHW to NHWC
def _():
    return dict(inputs=[randn(2, 3, 2, 2)], fn=lambda x: x.permute(0, 2, 3, 1))


@case("shape", "permute_3d")  # permute(x 2x3x4, {2, 0, 1})
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: x.permute(2, 0, 1))


@case("shape", "slice")  # slice(x 2x5x3, 1, 1, 4)
def _():
    return dict(inputs=[randn(2, 5, 3)], fn=lambda x: torch.narrow(x, 1, 1, 3))


@case("shape", "slice_last")  # slice(x 3x6, -1, 2, 5)
def _():
    return dict(inputs=[randn(3, 6)], fn=lambda x: torch.narrow(x, -1, 2, 3))


@case("shape", "cat")  # cat({2x1x4, 2x2x4, 2x3x4}, 1)
def _():
    return dict(inputs=[randn(2, 1, 4), randn(2, 2, 4), randn(2, 3, 4)],
                fn=lambda a, b, c: torch.cat([a, b, c], dim=1))


@case("shape", "cat_dim0")  # cat({1x3, 2x3}, 0)
def _():
    return dict(inputs=[randn(1, 3), randn(2, 3)], fn=lambda a, b: torch.cat([a, b], dim=0))


@case("shape", "cat_last")  # cat({2x3x1, 2x3x2}, -1)
def _():
    return dict(inputs=[randn(2, 3, 1), randn(2, 3, 2)],
                fn=lambda a, b: torch.cat([a, b], dim=-1))


@case("shape", "stack")  # stack({2x3, 2x3, 2x3}, 0)
def _():
    return dict(inputs=[randn(2, 3), randn(2, 3), randn(2, 3)],
                fn=lambda a, b, c: torch.stack([a, b, c], dim=0))


@case("shape", "stack_dim1")  # stack({2x3, 2x3}, 1)
def _():
    return dict(inputs=[randn(2, 3), randn(2, 3)], fn=lambda a, b: torch.stack([a, b], dim=1))


@case("shape", "stack_last")  # stack({2x3, 2x3}, -1)
def _():
    return dict(inputs=[randn(2, 3), randn(2, 3)], fn=lambda a, b: torch.stack([a, b], dim=-1))


@case("shape", "index_select")  # index_select(x 5x3, 0, ints): rows, some repeated
def _():
    idx = [4, 0, 2, 0, 4, 4]
    return dict(inputs=[randn(5, 3)], ints=idx,
                fn=lambda x: torch.index_select(x, 0, torch.tensor(idx)))


@case("shape", "index_select_dim1")  # index_select(x 2x4x3, 1, ints)
def _():
    idx = [3, 1, 3]
    return dict(inputs=[randn(2, 4, 3)], ints=idx,
                fn=lambda x: torch.index_select(x, 1, torch.tensor(idx)))


@case("shape", "gather")  # gather(x 3x4, 1, ints, index shape = output shape 3x2)
def _():
    idx = torch.randint(0, 4, (3, 2))
    return dict(inputs=[randn(3, 4)], ints=idx.reshape(-1).tolist(),
                fn=lambda x: torch.gather(x, 1, idx))


@case("shape", "gather_dim0")  # gather(x 3x4, 0, ints, index shape = output shape 5x4)
def _():
    idx = torch.randint(0, 3, (5, 4))
    return dict(inputs=[randn(3, 4)], ints=idx.reshape(-1).tolist(),
                fn=lambda x: torch.gather(x, 0, idx))


@case("shape", "gather_3d")  # gather(x 2x3x4, -1, ints, index shape = output shape 2x3x2)
def _():
    idx = torch.randint(0, 4, (2, 3, 2))
    return dict(inputs=[randn(2, 3, 4)], ints=idx.reshape(-1).tolist(),
                fn=lambda x: torch.gather(x, -1, idx))


@case("shape", "pad")  # pad(x 2x3x4, {1, 2}): last dim, zeros
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: F.pad(x, (1, 2)))


@case("shape", "pad_two_dims_value")  # pad(x 2x3x4, {1, 0, 2, 1}, 0.5)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: F.pad(x, (1, 0, 2, 1), value=0.5))


@case("shape", "pad_nchw")  # pad(x 1x2x3x3, {1, 1, 1, 1}): H and W, zeros
def _():
    return dict(inputs=[randn(1, 2, 3, 3)], fn=lambda x: F.pad(x, (1, 1, 1, 1)))


# ---- linalg ----


@case("linalg", "matmul_2d")  # 3x4 . 4x5
def _():
    return dict(inputs=[randn(3, 4), randn(4, 5)], fn=torch.matmul)


@case("linalg", "matmul_batched")  # 2x3x4 . 2x4x5
def _():
    return dict(inputs=[randn(2, 3, 4), randn(2, 4, 5)], fn=torch.matmul)


@case("linalg", "matmul_broadcast")  # 2x3x4 . 4x5
def _():
    return dict(inputs=[randn(2, 3, 4), randn(4, 5)], fn=torch.matmul)


@case("linalg", "matmul_broadcast_lhs")  # 3x4 . 2x4x5
def _():
    return dict(inputs=[randn(3, 4), randn(2, 4, 5)], fn=torch.matmul)


@case("linalg", "matmul_batch_broadcast")  # 2x1x3x4 . 1x2x4x5 -> 2x2x3x5
def _():
    return dict(inputs=[randn(2, 1, 3, 4), randn(1, 2, 4, 5)], fn=torch.matmul)


@case("linalg", "dense")  # dense(x 4x3, W 3x5, b 1x5)
def _():
    return dict(inputs=[randn(4, 3), randn(3, 5), randn(1, 5)], fn=lambda x, W, b: x @ W + b)


@case("linalg", "dense_no_bias")  # dense(x 4x3, W 3x5)
def _():
    return dict(inputs=[randn(4, 3), randn(3, 5)], fn=lambda x, W: x @ W)


@case("linalg", "dense_3d")  # dense(x 2x3x4, W 4x5, b 1x5): features last
def _():
    return dict(inputs=[randn(2, 3, 4), randn(4, 5), randn(1, 5)],
                fn=lambda x, W, b: x @ W + b)


# ---- activation ----


@case("activation", "sigmoid")
def _():
    return dict(inputs=[randn(2, 3, 4) * 2], fn=torch.sigmoid)


@case("activation", "tanh")
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=torch.tanh)


@case("activation", "relu")
def _():
    return dict(inputs=[signed((2, 3, 4), 0.1, 2.0)], fn=torch.relu)


@case("activation", "relu_nchw")
def _():
    return dict(inputs=[signed((2, 3, 2, 2), 0.1, 2.0)], fn=torch.relu)


@case("activation", "leaky_relu")  # leaky_relu(x, 0.1)
def _():
    return dict(inputs=[signed((2, 3, 4), 0.1, 2.0)], fn=lambda x: F.leaky_relu(x, 0.1))


@case("activation", "elu")  # elu(x, 1.0)
def _():
    return dict(inputs=[signed((2, 3, 4), 0.1, 2.0)], fn=lambda x: F.elu(x, 1.0))


@case("activation", "elu_alpha")  # elu(x, 0.5)
def _():
    return dict(inputs=[signed((3, 4), 0.1, 2.0)], fn=lambda x: F.elu(x, 0.5))


@case("activation", "softmax")  # softmax(x 2x3x4, 1)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: torch.softmax(x, dim=1))


@case("activation", "softmax_last")  # softmax(x 3x5, -1), large values
def _():
    return dict(inputs=[randn(3, 5) * 20], fn=lambda x: torch.softmax(x, dim=-1))


@case("activation", "softmax_nchw")  # softmax(x 2x3x2x2, 1): over channels
def _():
    return dict(inputs=[randn(2, 3, 2, 2)], fn=lambda x: torch.softmax(x, dim=1))


@case("activation", "log_softmax")  # log_softmax(x 2x3x4, -1)
def _():
    return dict(inputs=[randn(2, 3, 4)], fn=lambda x: torch.log_softmax(x, dim=-1))


@case("activation", "log_softmax_dim0")  # log_softmax(x 3x4, 0)
def _():
    return dict(inputs=[randn(3, 4) * 5], fn=lambda x: torch.log_softmax(x, dim=0))


# ---- normalization ----


@case("normalization", "batch_norm")  # batch_norm(x 6x4, gamma 1x4, beta 1x4, 1e-5), training
def _():
    x = randn(6, 4) * 2 + randn(1, 4)
    gamma = uniform((1, 4), 0.5, 1.5)
    return dict(inputs=[x, gamma, randn(1, 4)],
                fn=lambda x, g, b: F.batch_norm(x, None, None, g.reshape(-1), b.reshape(-1),
                                                training=True, eps=1e-5))


@case("normalization", "batch_norm_eps")  # batch_norm(x 5x3, gamma, beta, 0.1), training
def _():
    return dict(inputs=[randn(5, 3), randn(1, 3), randn(1, 3)],
                fn=lambda x, g, b: F.batch_norm(x, None, None, g.reshape(-1), b.reshape(-1),
                                                training=True, eps=0.1))


# ---- loss ----
# Reductions are in the name: _mean, _sum, _none (and _batchmean for kl_div).


def ce_case(name, n, c, weight=False, ignore=False, smoothing=0.0, reduction="mean"):
    def maker():
        logits = randn(n, c) * 2
        labels = torch.randint(0, c, (n,))
        if ignore:
            labels[1] = -100
        w = uniform((c,), 0.2, 2.0) if weight else None
        d = dict(inputs=[logits], ints=labels.tolist(),
                 fn=lambda z: F.cross_entropy(z, labels, weight=None if w is None else w.double(),
                                              ignore_index=-100, label_smoothing=smoothing,
                                              reduction=reduction))
        if weight:
            d["weight"] = w
        return d

    case("loss", name)(maker)


ce_case("cross_entropy_mean", 5, 4)
ce_case("cross_entropy_sum", 5, 4, reduction="sum")
ce_case("cross_entropy_none", 5, 4, reduction="none")
ce_case("cross_entropy_weight_mean", 6, 4, weight=True)
ce_case("cross_entropy_weight_sum", 6, 4, weight=True, reduction="sum")
ce_case("cross_entropy_weight_none", 6, 4, weight=True, reduction="none")
ce_case("cross_entropy_ignore_mean", 5, 3, ignore=True)
ce_case("cross_entropy_ignore_sum", 5, 3, ignore=True, reduction="sum")
ce_case("cross_entropy_ignore_none", 5, 3, ignore=True, reduction="none")
ce_case("cross_entropy_smoothing_mean", 5, 4, smoothing=0.1)
ce_case("cross_entropy_smoothing_sum", 5, 4, smoothing=0.1, reduction="sum")
ce_case("cross_entropy_smoothing_none", 5, 4, smoothing=0.1, reduction="none")
ce_case("cross_entropy_all_mean", 6, 4, weight=True, ignore=True, smoothing=0.1)
ce_case("cross_entropy_all_sum", 6, 4, weight=True, ignore=True, smoothing=0.1, reduction="sum")


def ce_nd_case(name, weight=False, ignore=False, smoothing=0.0, reduction="mean"):
    """cross_entropy of N x C x H x W logits (classes in dim 1) against N x H x W labels."""

    def maker():
        logits = randn(2, 3, 2, 2) * 2
        labels = torch.randint(0, 3, (2, 2, 2))
        if ignore:
            labels[0, 1, 0] = -100
        w = uniform((3,), 0.2, 2.0) if weight else None
        d = dict(inputs=[logits], ints=labels.reshape(-1).tolist(),
                 fn=lambda z: F.cross_entropy(z, labels, weight=None if w is None else w.double(),
                                              ignore_index=-100, label_smoothing=smoothing,
                                              reduction=reduction))
        if weight:
            d["weight"] = w
        return d

    case("loss", name)(maker)


ce_nd_case("cross_entropy_nchw_mean")
ce_nd_case("cross_entropy_nchw_none", reduction="none")
ce_nd_case("cross_entropy_nchw_all_mean", weight=True, ignore=True, smoothing=0.1)


@case("loss", "cross_entropy_one_sample")  # logits C = 5 (rank 1), one label
def _():
    label = torch.tensor(3)
    return dict(inputs=[randn(5) * 2], ints=[3], fn=lambda z: F.cross_entropy(z, label))


def soft_options_case(name, weight, smoothing, reduction, shape=(5, 4)):
    """cross_entropy(logits, target_probs, options): soft labels, classes in dim 1."""

    def maker():
        target = torch.softmax(torch.randn(shape), dim=1).float()
        w = uniform((shape[1],), 0.2, 2.0) if weight else None
        d = dict(inputs=[randn(*shape) * 2], target=target,
                 fn=lambda z: F.cross_entropy(z, target.double(),
                                              weight=None if w is None else w.double(),
                                              label_smoothing=smoothing, reduction=reduction))
        if weight:
            d["weight"] = w
        return d

    case("loss", name)(maker)


soft_options_case("cross_entropy_soft_mean", False, 0.0, "mean")
soft_options_case("cross_entropy_soft_none", False, 0.0, "none")
soft_options_case("cross_entropy_soft_all_mean", True, 0.1, "mean")
soft_options_case("cross_entropy_soft_all_sum", True, 0.1, "sum")
soft_options_case("cross_entropy_soft_all_none", True, 0.1, "none")
soft_options_case("cross_entropy_soft_nchw_mean", True, 0.1, "mean", shape=(2, 3, 2, 2))


def labels_ce_case(name, reduction):
    """softmax_cross_entropy(logits, int32 labels): the classic form."""

    def maker():
        labels = torch.randint(0, 4, (5,))
        return dict(inputs=[randn(5, 4) * 2], ints=labels.tolist(),
                    fn=lambda z: F.cross_entropy(z, labels, reduction=reduction))

    case("loss", name)(maker)


for _r in ("mean", "sum", "none"):
    labels_ce_case("softmax_cross_entropy_labels_" + _r, _r)


def soft_ce_case(name, reduction):
    """Cross-entropy against a probability distribution per row (soft labels)."""

    def maker():
        target = distribution(5, 4)
        return dict(inputs=[randn(5, 4) * 2], target=target,
                    fn=lambda z: F.cross_entropy(z, target.double(), reduction=reduction))

    case("loss", name)(maker)


soft_ce_case("cross_entropy_probs_mean", "mean")
soft_ce_case("cross_entropy_probs_sum", "sum")
soft_ce_case("cross_entropy_probs_none", "none")


def probs_case(name, fn):
    """A loss of probabilities p in [0.05, 0.95] (inside any clamp) against 0/1 and soft
    targets."""

    def maker():
        target = torch.cat([(torch.rand(2, 4) < 0.5).float(), torch.rand(1, 4)])
        return dict(inputs=[uniform((3, 4), 0.05, 0.95)], target=target,
                    fn=lambda p: fn(p, target.double()))

    case("loss", name)(maker)


for _r in ("mean", "sum", "none"):
    probs_case("bce_" + _r, lambda p, t, r=_r: F.binary_cross_entropy(p, t, reduction=r))


@case("loss", "categorical_cross_entropy_mean")  # -sum_j t_j log p_j, averaged over rows
def _():
    p, t = distribution(4, 5), distribution(4, 5)
    return dict(inputs=[p], target=t, fn=lambda p: -(t.double() * p.log()).sum(-1).mean())


@case("loss", "categorical_cross_entropy_sum")
def _():
    p, t = distribution(4, 5), distribution(4, 5)
    return dict(inputs=[p], target=t, fn=lambda p: -(t.double() * p.log()).sum())


@case("loss", "categorical_cross_entropy_none")  # one loss per row
def _():
    p, t = distribution(4, 5), distribution(4, 5)
    return dict(inputs=[p], target=t, fn=lambda p: -(t.double() * p.log()).sum(-1))


def bce_case(name, pos_weight, reduction):
    def maker():
        logits = randn(3, 4) * 2
        target = torch.cat([(torch.rand(2, 4) < 0.5).float(), torch.rand(1, 4)])  # 0/1 and soft
        pw = uniform((4,), 0.5, 3.0) if pos_weight else None
        d = dict(inputs=[logits], target=target,
                 fn=lambda z: F.binary_cross_entropy_with_logits(
                     z, target.double(), pos_weight=None if pw is None else pw.double(),
                     reduction=reduction))
        if pos_weight:
            d["weight"] = pw
        return d

    case("loss", name)(maker)


for _r in ("mean", "sum", "none"):
    bce_case("bce_with_logits_" + _r, False, _r)
    bce_case("bce_with_logits_pos_weight_" + _r, True, _r)


@case("loss", "bce_with_logits_pos_weight_nchw_mean")  # logits 2x3x2x2, pos_weight 3x1x1
def _():
    target = (torch.rand(2, 3, 2, 2) < 0.5).float()
    pw = uniform((3, 1, 1), 0.5, 3.0)
    return dict(inputs=[randn(2, 3, 2, 2) * 2], target=target, weight=pw,
                fn=lambda z: F.binary_cross_entropy_with_logits(z, target.double(),
                                                                pos_weight=pw.double()))


def pointwise_case(name, fn, shape=(3, 4), avoid=(0.0,)):
    """A regression loss of prediction = target + d, with d in [-2, 2] away from `avoid`."""

    def maker():
        target = randn(*shape)
        d = uniform(shape, -2.0, 2.0, avoid=tuple(avoid) + tuple(-a for a in avoid))
        return dict(inputs=[(target + d).float()], target=target,
                    fn=lambda p: fn(p, target.double()))

    case("loss", name)(maker)


for _r in ("mean", "sum", "none"):
    pointwise_case("mse_" + _r, lambda p, t, r=_r: F.mse_loss(p, t, reduction=r))
    pointwise_case("mae_" + _r, lambda p, t, r=_r: F.l1_loss(p, t, reduction=r))
    for _delta, _tag in ((1.0, "1"), (0.5, "0_5")):
        pointwise_case("huber_%s_%s" % (_tag, _r),
                       lambda p, t, r=_r, d=_delta: F.huber_loss(p, t, reduction=r, delta=d),
                       avoid=(0.5, 1.0))
        pointwise_case("smooth_l1_%s_%s" % (_tag, _r),
                       lambda p, t, r=_r, b=_delta: F.smooth_l1_loss(p, t, reduction=r, beta=b),
                       avoid=(0.5, 1.0))
pointwise_case("rmse_mean", lambda p, t: F.mse_loss(p, t).sqrt())
pointwise_case("rmse_sum", lambda p, t: F.mse_loss(p, t, reduction="sum").sqrt())
pointwise_case("mse_nchw_mean", lambda p, t: F.mse_loss(p, t), shape=(2, 3, 2, 2))


def kl_case(name, reduction, log_target=False):
    def maker():
        x = torch.log_softmax(randn(4, 5), dim=-1).float()  # log-probabilities
        target = distribution(4, 5)
        if log_target:
            target = target.log().float()
        return dict(inputs=[x], target=target,
                    fn=lambda z: F.kl_div(z, target.double(), reduction=reduction,
                                          log_target=log_target))

    case("loss", name)(maker)


kl_case("kl_div_batchmean", "batchmean")
kl_case("kl_div_sum", "sum")
kl_case("kl_div_mean", "mean")
kl_case("kl_div_none", "none")
for _r in ("batchmean", "sum", "mean", "none"):
    kl_case("kl_div_log_target_" + _r, _r, log_target=True)


# ---- conv: convolutions (inputs: x, weight[, bias]) and 2-D pools ----


def conv_case(name, conv, x_shape, w_shape, bias=True, **options):
    """F.conv1d / F.conv2d(x, weight, bias, **options); the options are the C++ lambda's."""

    def maker():
        inputs = [randn(*x_shape), randn(*w_shape) * 0.5]
        if bias:
            inputs.append(randn(w_shape[0]))
        return dict(inputs=inputs, fn=lambda x, w, b=None: conv(x, w, b, **options))

    case("conv", name)(maker)


conv_case("conv2d", F.conv2d, (2, 3, 6, 5), (4, 3, 3, 3))
conv_case("conv2d_stride_padding", F.conv2d, (2, 3, 7, 6), (4, 3, 3, 3), stride=2, padding=1)
conv_case("conv2d_asymmetric", F.conv2d, (2, 2, 6, 7), (3, 2, 3, 2), stride=(1, 2),
          padding=(2, 1))
conv_case("conv2d_dilation", F.conv2d, (1, 2, 8, 7), (3, 2, 3, 3), padding=1, dilation=2)
conv_case("conv2d_groups", F.conv2d, (2, 4, 5, 5), (6, 2, 3, 3), groups=2)
conv_case("conv2d_no_bias", F.conv2d, (2, 3, 5, 5), (4, 3, 2, 2), bias=False)
conv_case("conv2d_all_options", F.conv2d, (2, 4, 9, 8), (6, 2, 3, 3), stride=2, padding=1,
          dilation=2, groups=2)
conv_case("conv1d", F.conv1d, (2, 3, 9), (4, 3, 3))
conv_case("conv1d_all_options", F.conv1d, (2, 4, 11), (6, 2, 3), stride=2, padding=1,
          dilation=2, groups=2)
conv_case("conv1d_no_bias", F.conv1d, (3, 2, 7), (4, 2, 2), bias=False)


def pool_case(name, fn, shape, ties_matter=False):
    """A pool of one N x C x H x W input; max pools get distinct values (no ties)."""

    def maker():
        x = distinct(shape) if ties_matter else randn(*shape)
        return dict(inputs=[x], fn=fn)

    case("conv", name)(maker)


pool_case("max_pool2d", lambda x: F.max_pool2d(x, 2), (2, 3, 6, 6), True)
pool_case("max_pool2d_stride_padding", lambda x: F.max_pool2d(x, 3, 2, 1), (2, 2, 7, 7), True)
pool_case("max_pool2d_rect", lambda x: F.max_pool2d(x, (2, 3), 1), (1, 2, 5, 6), True)
pool_case("avg_pool2d", lambda x: F.avg_pool2d(x, 2), (2, 3, 6, 6))
pool_case("avg_pool2d_stride_padding", lambda x: F.avg_pool2d(x, 3, 2, 1), (2, 2, 7, 7))
pool_case("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 4)), (2, 3, 5, 7))
pool_case("adaptive_avg_pool2d_global", lambda x: F.adaptive_avg_pool2d(x, 1), (2, 3, 5, 7))


# ---- writing ----


def fmt_tensor(t):
    """RANK DIMS... VALUES..., the values rounded to float32."""
    t = t.detach().to(torch.float32).contiguous()
    parts = [str(t.dim())] + [str(s) for s in t.shape]
    parts += ["%.9g" % v for v in t.reshape(-1).tolist()]
    return " ".join(parts)


def run_case(family, name, maker):
    torch.manual_seed(zlib.crc32(name.encode()))
    spec = maker()
    inputs = spec["inputs"]
    xs = [x.detach().to(torch.float64).requires_grad_(True) for x in inputs]
    out = spec["fn"](*xs)
    seed = torch.randn(out.shape, dtype=torch.float32)
    grads = torch.autograd.grad(out, xs, seed.to(torch.float64), allow_unused=True)
    lines = ["case " + name]
    for x in inputs:
        assert x.dtype == torch.float32, name
        lines.append("input " + fmt_tensor(x))
    if "ints" in spec:
        ints = [int(v) for v in spec["ints"]]
        lines.append("ints %d %s" % (len(ints), " ".join(str(v) for v in ints)))
    for key in ("target", "weight"):
        if key in spec:
            assert spec[key].dtype == torch.float32, name
            lines.append(key + " " + fmt_tensor(spec[key]))
    lines.append("output " + fmt_tensor(out))
    lines.append("seed " + fmt_tensor(seed))
    for k, (x, g) in enumerate(zip(xs, grads)):
        lines.append("grad %d %s" % (k, fmt_tensor(torch.zeros_like(x) if g is None else g)))
    lines.append("end")
    assert torch.isfinite(out).all() and all(g is None or torch.isfinite(g).all() for g in grads)
    return lines


def main():
    names = [name for _, name, _ in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    torch.set_num_threads(1)
    # kl_div's 'mean' warns that it will become 'batchmean'; 1.13's 'mean' is what is recorded.
    warnings.filterwarnings("ignore", message="reduction: 'mean' divides")
    counts = {}
    lines = [
        "# PyTorch reference values and gradients for tests/op_reference_test.cpp.",
        "# Made by scripts/make_op_reference.py with torch %s; do not edit by hand."
        % torch.__version__,
        "# float32 inputs; output and gradients computed in float64, rounded to float32.",
    ]
    for family, name, maker in CASES:
        lines += run_case(family, name, maker)
        counts[family] = counts.get(family, 0) + 1
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "fixtures", "op_reference.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s: %d cases (%s)" % (path, len(CASES),
                                        ", ".join("%s %d" % kv for kv in counts.items())),
          file=sys.stderr)


if __name__ == "__main__":
    main()
