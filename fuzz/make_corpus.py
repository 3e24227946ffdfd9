#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/corpus/<target>/ (stdlib only).

Valid files (named valid_*) with every entry kind / both IDX kinds / the layers of model files, plus
truncated and mutated variants that each stop the reader at a different check. Deterministic: rerunning rewrites the same bytes.
    python3 fuzz/make_corpus.py [OUT_DIR]      (default: fuzz/corpus next to this script)
"""
import gzip
import json
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- checkpoints (see include/tapegrad/io/checkpoint.hpp for the format) ----

def u8(v): return struct.pack("<B", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)


def entry(kind, name, payload):
    name = name.encode() if isinstance(name, str) else name
    return u8(kind) + u32(len(name)) + name + payload


def tensor(name, shape, values=None, version=2):
    """A float32 tensor entry; version 1 holds rank 2 only (u64 rows, u64 cols)."""
    assert version == 2 or len(shape) == 2
    count = 1
    for d in shape:
        count *= d
    values = values if values is not None else [0.5 * i - 1 for i in range(count)]
    data = b"".join(struct.pack("<f", v) for v in values)
    return entry(0, name, u8(0) + u32(len(shape)) + b"".join(u64(d) for d in shape) + data)


def tensor_head(name, dims, rank=None):
    """A tensor entry without its data; `rank` overrides the stored rank."""
    return entry(0, name, u8(0) + u32(len(dims) if rank is None else rank) +
                 b"".join(u64(d) for d in dims))


def integer(name, v): return entry(1, name, struct.pack("<q", v))
def real(name, v): return entry(2, name, struct.pack("<d", v))
def real_bits(name, bits): return entry(2, name, u64(bits))


def text(name, s):
    s = s.encode() if isinstance(s, str) else s
    return entry(3, name, u64(len(s)) + s)


def body(entries, count=None, version=2, flags=0):
    n = len(entries) if count is None else count
    return b"TAPEGRAD" + u32(version) + u32(flags) + u64(n) + b"".join(entries)


def seal(b): return b + u32(zlib.crc32(b) & 0xFFFFFFFF)


def every_kind(version):
    nd = [] if version == 1 else [
        tensor("scale", [], [-2.5]),
        tensor("embedding.row", [4]),
        tensor("conv.weight", [2, 3, 2, 2]),
        tensor("r6", [1, 2, 1, 2, 1, 2]),
        tensor("r8", [1, 1, 2, 1, 1, 1, 1, 2]),
        tensor("empty_r3", [4, 0, 5], []),
    ]
    return [
        tensor("model.0.weight", [2, 3], version=version),
        tensor("model.0.bias", [1, 3], [0.125, -0.0, float("inf")], version=version),
        tensor("empty", [0, 3], [], version=version),
    ] + nd + [
        integer("optimizer.step", 123456789012345),
        integer("min", -2**63),
        real("lr", 0.1),
        real_bits("nan", 0x7FF8000000001234),
        real("minus_zero", -0.0),
        text("config", '{"hidden": [128, 64]}'),
        text("binary", b"a\0b\xff"),
        text("empty_text", b""),
        text("caf\u00e9.\u20ac", "utf-8 name"),
    ]


def checkpoints():
    """Version-2 files (what tapegrad writes), then version-1 ones (rank 2, still loaded)."""
    valid = seal(body(every_kind(2)))
    out = {
        "valid_every_kind": valid,
        "valid_empty": seal(body([])),
        "nul_in_name": seal(body([integer(b"a\0b", 1)])),
        "valid_one_integer": seal(body([integer("step", 7)])),
        "valid_tensor_text": seal(body([tensor("w", [2, 2], [1, 2, 3, 4]), text("note", "hi")])),
        "valid_unsorted": seal(body([text("z", "last"), integer("a", 1), tensor("m", [1, 1], [2])])),
        "valid_rank0": seal(body([tensor("s", [], [3.5])])),
        "valid_rank8": seal(body([tensor("t", [1, 2, 1, 2, 1, 2, 1, 2])])),
        # Truncations and single defects, each with a valid CRC so the parser reaches them.
        "trunc_header": valid[:20],
        "trunc_in_tensor": valid[:60],
        "trunc_in_dims": seal(body([tensor("t", [2, 3, 4])])[:47]),
        "trunc_in_data": seal(body([tensor("t", [2, 3, 4])])[:100]),
        "trunc_no_crc": valid[:-4],
        "bad_crc": valid[:-1] + bytes([valid[-1] ^ 0xFF]),
        "bad_magic": b"TAPEGRAX" + valid[8:],
        "bad_version": seal(body([integer("a", 1)], version=3)),
        "bad_version_zero": seal(body([integer("a", 1)], version=0)),
        "bad_flags": seal(body([integer("a", 1)], flags=1)),
        "bad_kind": seal(body([entry(4, "k", u64(0))])),
        "bad_dtype": seal(body([entry(0, "t", u8(1) + u32(2) + u64(1) + u64(1) + u32(0))])),
        "bad_rank": seal(body([tensor_head("t", [1] * 9) + u32(0)])),
        "rank_huge": seal(body([tensor_head("t", [], rank=0xFFFFFFFF) + u64(0)])),
        "duplicate_name": seal(body([integer("a", 1), real("a", 2.0)])),
        "empty_name": seal(body([entry(1, b"", u64(1))])),
        "bad_utf8_name": seal(body([entry(1, b"\xc0\xaf", u64(1))])),
        "name_length_huge": seal(body([u8(1) + u32(0xFFFFFFFF) + b"n" * 20])),
        "count_huge": seal(body([], count=2**60)),
        "count_too_high": seal(body([integer("a", 1)], count=2)),
        "dims_huge": seal(body([tensor_head("w", [16384, 16384])])),
        "dims_huge_rank4": seal(body([tensor_head("w", [64, 64, 256, 256])])),
        "dims_wrap": seal(body([tensor_head("w", [2**32, 2**32])])),
        "dims_wrap_rank3": seal(body([tensor_head("w", [2**32, 2**32, 2])])),
        "dims_wrap_to_zero": seal(body([tensor_head("w", [2**16] * 4)])),
        # A dimension above 2^63-1 is refused even when another is 0 (fuzz finding: UB in
        # xtensor's signed strides), and so is a product of the nonzero ones above 2^63-1;
        # 2^63-1 itself loads as an empty tensor.
        "dims_zero_by_2pow64m1": seal(body([tensor_head("w", [0, 2**64 - 1])])),
        "dims_2pow63_by_zero": seal(body([tensor_head("w", [2**63, 0])])),
        "dims_zero_by_overflowing_product": seal(body([tensor_head("w", [0, 2**32, 2**32])])),
        "valid_dims_zero_by_2pow63m1": seal(body([tensor_head("w", [0, 2**63 - 1])])),
        "valid_dims_zero_by_product_2pow63m1": seal(body([tensor_head("w", [0, 7, (2**63 - 1) // 7])])),
        "text_huge": seal(body([entry(3, "t", u64(200 << 20) + b"abc")])),
        "text_over_limit": seal(body([entry(3, "t", u64((256 << 20) + 1) + b"abc")])),
        "trailing_bytes": seal(body([integer("a", 1)]) + b"\0\0"),
    }
    # Version 1 (rank-2 tensors only), as written by tapegrad before N-d tensors.
    v1 = seal(body(every_kind(1), version=1))
    out.update({
        "valid_v1_every_kind": v1,
        "valid_v1_tensor_text": seal(body([tensor("w", [2, 2], [1, 2, 3, 4], version=1),
                                           text("note", "hi")], version=1)),
        "valid_v1_dims_zero_by_2pow63m1": seal(body([tensor_head("w", [0, 2**63 - 1])], version=1)),
        "v1_trunc_in_tensor": v1[:60],
        "v1_bad_rank3": seal(body([tensor_head("t", [1, 1, 1]) + u32(0)], version=1)),
        "v1_bad_rank1": seal(body([tensor_head("t", [1]) + u32(0)], version=1)),
        "v1_bad_rank0": seal(body([tensor_head("t", []) + u32(0) + u64(0)], version=1)),
        "v1_dims_huge": seal(body([tensor_head("w", [16384, 16384])], version=1)),
        "v1_dims_wrap": seal(body([tensor_head("w", [2**32, 2**32])], version=1)),
        "v1_dims_zero_by_2pow64m1": seal(body([tensor_head("w", [0, 2**64 - 1])], version=1)),
        "v1_dims_2pow63_by_zero": seal(body([tensor_head("w", [2**63, 0])], version=1)),
    })
    return out


# ---- IDX files (big-endian header, see include/tapegrad/data/data.hpp) ----

def idx(magic, dims, data):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def idx_files():
    pixels = [(i * 37) % 256 for i in range(2 * 3 * 4)]
    images = idx(0x803, [2, 3, 4], pixels)
    labels = idx(0x801, [5], [0, 9, 3, 7, 1])
    gz = lambda b: gzip.compress(b, compresslevel=9, mtime=0)
    out = {
        "valid_images_2x3x4": images,
        "valid_images_none_28x28": idx(0x803, [0, 28, 28], []),
        "valid_images_1x28x28": idx(0x803, [1, 28, 28], [(i * 7) % 256 for i in range(784)]),
        "valid_labels_5": labels,
        "valid_labels_none": idx(0x801, [0], []),
        "images_truncated_header": images[:10],
        "images_truncated_data": images[:-3],
        "images_trailing_byte": images + b"\0",
        "images_zero_rows": idx(0x803, [1, 0, 4], []),
        "images_huge_declared": idx(0x803, [1400000, 28, 28], [1, 2, 3, 4]),
        "images_dims_overflow": idx(0x803, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], []),
        "images_wrong_type": idx(0x0D03, [1, 1, 1], [0, 0, 0, 0]),
        "labels_as_rank3": idx(0x801, [1, 1, 1], [0]),
        "not_idx_magic": b"\x12\x34\x08\x03" + images[4:],
        "valid_images_gz": gz(images),
        "labels_gz_no_trailer": gz(labels)[:-8],
        "labels_gz_bad_crc": (lambda g: g[:-8] + bytes([g[-8] ^ 1]) + g[-7:])(gz(labels)),
        "valid_labels_gz": gz(labels),
        "images_gz_truncated": gz(images)[:-10],
        "labels_gz_trailing": gz(labels + b"\x07"),
    }
    return out


# ---- model files (see include/tapegrad/io/model_file.hpp and nn/module.hpp for the format) ----

def spec(type_, options=None, children=None):
    """A ModuleSpec as a dict; options are texts, as the library writes them."""
    d = {"type": type_, "options": dict(options or {})}
    if children is not None or type_ == "Sequential":
        d["children"] = list(children or [])
    return d


def seq(*children): return spec("Sequential", children=children)
def act(type_): return spec(type_)


def dense(i, o, bias=True, init="he_normal"):
    return spec("Dense", {"in_features": str(i), "out_features": str(o),
                          "bias": "1" if bias else "0", "init": init})


def conv2d(i, o, k, stride="1,1", padding="0,0", dilation="1,1", groups=1, bias=True):
    return spec("Conv2d", {"in_channels": str(i), "out_channels": str(o), "kernel_size": k,
                           "stride": stride, "padding": padding, "dilation": dilation,
                           "groups": str(groups), "bias": "1" if bias else "0"})


def conv1d(i, o, k, padding=0, bias=True):
    return spec("Conv1d", {"in_channels": str(i), "out_channels": str(o), "kernel_size": str(k),
                           "stride": "1", "padding": str(padding), "dilation": "1",
                           "groups": "1", "bias": "1" if bias else "0"})


def pool(type_, k, stride, padding="0,0"):
    return spec(type_, {"kernel_size": k, "stride": stride, "padding": padding})


def flatten(start=1, end=-1): return spec("Flatten", {"start_dim": str(start), "end_dim": str(end)})
def batch_norm(type_, c): return spec(type_, {"num_features": str(c), "momentum": "0.1", "eps": "1e-05"})


def recurrent(type_, i, h, layers=1, bias=True, batch_first=True, nonlinearity=None):
    o = {"input_size": str(i), "hidden_size": str(h), "num_layers": str(layers),
         "bias": "1" if bias else "0", "batch_first": "1" if batch_first else "0"}
    if nonlinearity:
        o["nonlinearity"] = nonlinearity
    return spec(type_, o)


def spec_tensors(s, prefix=""):
    """The (name, shape) list that spec_state() gives for `s` (see src/nn/spec.cpp)."""
    t, o = s["type"], s["options"]
    n = lambda k: int(o[k])
    pair = lambda k: [int(v) for v in o[k].split(",")]
    if t == "Sequential":
        out = []
        for i, c in enumerate(s["children"]):
            out += spec_tensors(c, f"{prefix}{i}.")
        return out
    if t == "Dense":
        return [(prefix + "weight", [n("in_features"), n("out_features")])] + (
            [(prefix + "bias", [1, n("out_features")])] if o["bias"] == "1" else [])
    if t in ("BatchNorm1d", "BatchNorm2d"):
        shape = [1, n("num_features")] if t == "BatchNorm1d" else [n("num_features")]
        return [(prefix + k, shape) for k in ("weight", "bias", "running_mean", "running_var")]
    if t in ("Conv1d", "Conv2d"):
        k = pair("kernel_size") if t == "Conv2d" else [n("kernel_size")]
        w = [(prefix + "weight", [n("out_channels"), n("in_channels") // n("groups")] + k)]
        return w + ([(prefix + "bias", [n("out_channels")])] if o["bias"] == "1" else [])
    if t == "LayerNorm":
        shape = pair("normalized_shape")
        return [(prefix + "weight", shape), (prefix + "bias", shape)] if o["elementwise_affine"] == "1" else []
    if t == "Embedding":
        return [(prefix + "weight", [n("num_embeddings"), n("embedding_dim")])]
    if t in ("RNN", "LSTM", "GRU"):
        g = {"RNN": 1, "LSTM": 4, "GRU": 3}[t] * n("hidden_size")
        out = []
        for k in range(n("num_layers")):
            out += [(f"{prefix}weight_ih_l{k}", [n("input_size") if k == 0 else n("hidden_size"), g]),
                    (f"{prefix}weight_hh_l{k}", [n("hidden_size"), g])]
            if o["bias"] == "1":
                out += [(f"{prefix}bias_ih_l{k}", [1, g]), (f"{prefix}bias_hh_l{k}", [1, g])]
        return out
    return []


def spec_rngs(s, prefix=""):
    if s["type"] == "Sequential":
        return [r for i, c in enumerate(s["children"]) for r in spec_rngs(c, f"{prefix}{i}.")]
    return [prefix + "rng"] if s["type"] == "Dropout" else []


def weights_of(s, seed=1):
    """Deterministic small weights for every tensor of `s` (a fixed linear congruential walk)."""
    out, x = {}, seed
    for name, shape in spec_tensors(s):
        count = 1
        for d in shape:
            count *= d
        values = []
        for _ in range(count):
            x = (x * 1103515245 + 12345) % 2**31
            values.append(round((x / 2**31 - 0.5) * 0.8, 6))
        if name.endswith("running_var"):
            values = [1.0 + abs(v) for v in values]
        out[name] = (shape, values)
    return out


def info(input_shape, task="classification", num_classes=0, class_names=(), target_names=()):
    return {"task": task, "num_classes": num_classes, "class_names": list(class_names),
            "target_names": list(target_names), "input_shape": list(input_shape)}


def model_entries(s, inf, divisor=1.0, mean=(0.0,), stddev=(1.0,), weights=None, spec_text=None,
                  info_text=None):
    """A model file's entries by name: (kind function, args) so that defects can edit them."""
    e = {
        "model_file.version": ("integer", 1),
        "model_file.spec": ("text", spec_text if spec_text is not None else json.dumps(s)),
        "model_file.info": ("text", info_text if info_text is not None else json.dumps(inf)),
        "model_file.preprocessing.divisor": ("real", divisor),
        "model_file.preprocessing.mean": ("tensor", ([len(mean)], list(mean))),
        "model_file.preprocessing.stddev": ("tensor", ([len(stddev)], list(stddev))),
    }
    for name, (shape, values) in (weights if weights is not None else weights_of(s)).items():
        e["weights." + name] = ("tensor", (shape, values))
    for i, r in enumerate(spec_rngs(s)):
        for k in range(4):
            e[f"weights.{r}.{k}"] = ("integer", 0x9E3779B97F4A7C15 % 2**62 + 31 * i + k)
    return e


def model_bytes(entries):
    out = []
    for name, (kind, v) in sorted(entries.items()):
        if kind == "integer":
            out.append(integer(name, v))
        elif kind == "real":
            out.append(real(name, v))
        elif kind == "text":
            out.append(text(name, v))
        else:
            out.append(tensor(name, v[0], v[1]))
    return seal(body(out))


def model_files():
    mlp = seq(dense(4, 8), act("ReLU"), dense(8, 3, init="xavier_uniform"))
    mlp_info = info([4], num_classes=3, class_names=["setosa", "versicolor", "virginica"])
    lenet = seq(conv2d(1, 2, "3,3", padding="1,1"), act("ReLU"), pool("MaxPool2d", "2,2", "2,2"),
                conv2d(2, 4, "3,3"), act("ReLU"), flatten(), dense(16, 10), act("LogSoftmax"))
    lstm = seq(recurrent("LSTM", 3, 4), spec("LastTimeStep"), dense(4, 2))
    norms = seq(dense(6, 4), batch_norm("BatchNorm1d", 4), act("Tanh"),
                spec("Dropout", {"p": "0.5", "seed": "7"}), dense(4, 2), act("Softmax"))
    gru = seq(recurrent("GRU", 3, 5, layers=2),
              spec("LayerNorm", {"normalized_shape": "5", "eps": "1e-05", "elementwise_affine": "1"}),
              spec("LastTimeStep"), dense(5, 1))
    embedding = seq(spec("Embedding", {"num_embeddings": "10", "embedding_dim": "4", "padding_idx": "0"}),
                    flatten(), dense(24, 3))
    bn2d = seq(conv2d(2, 3, "1,1"), batch_norm("BatchNorm2d", 3),
               spec("LeakyReLU", {"negative_slope": "0.1"}),
               pool("AvgPool2d", "2,2", "2,2"), spec("AdaptiveAvgPool2d", {"output_size": "1,1"}),
               flatten(), dense(3, 2))
    nested = seq(spec("Unflatten", {"dim": "1", "sizes": "2,4"}), conv1d(2, 3, 3, padding=1),
                 spec("ELU", {"alpha": "1"}), flatten(),
                 seq(dense(12, 4, bias=False, init="lecun_normal"), act("Sigmoid"), seq(act("Identity"))),
                 spec("Dropout", {"p": "0", "seed": "18446744073709551615"}), dense(4, 2))
    rnn = seq(recurrent("RNN", 2, 3, layers=2, nonlinearity="relu"), act("Step"),
              spec("LastTimeStep"), dense(3, 2))

    valid = {
        "valid_mlp": model_entries(mlp, mlp_info, mean=(5.8, 3.0, 3.8, 1.2), stddev=(0.8, 0.4, 1.8, 0.8)),
        "valid_lenet_cnn": model_entries(lenet, info([1, 8, 8], num_classes=10), divisor=255.0,
                                         mean=(0.1307,), stddev=(0.3081,)),
        "valid_lstm_last_time_step_dense": model_entries(
            lstm, info([5, 3], task="regression", target_names=["price", "volume"])),
        "valid_batchnorm_dropout_softmax": model_entries(norms, info([6], num_classes=2)),
        "valid_gru_layernorm": model_entries(gru, info([4, 3], task="regression")),
        "valid_embedding": model_entries(embedding, info([6], num_classes=3)),
        "valid_conv_batchnorm2d_pools": model_entries(bn2d, info([2, 4, 4], num_classes=2)),
        "valid_nested_conv1d_unflatten": model_entries(nested, info([8], task="regression")),
        "valid_rnn_relu_two_layers": model_entries(rnn, info([3, 2], num_classes=2)),
        "valid_single_dense_no_sequential": model_entries(dense(3, 2), info([3], num_classes=2)),
    }
    out = {name: model_bytes(e) for name, e in valid.items()}

    def defect(name, base, **changes):
        """A copy of valid model `base` with entries replaced (a value) or removed (None)."""
        e = dict(valid[base])
        for k, v in changes.items():
            key = k.replace("__", ".")
            if v is None:
                e.pop(key)
            else:
                e[key] = v
        out[name] = model_bytes(e)

    def bad_spec(name, s, inf=mlp_info, weights=None, spec_text=None, **kw):
        w = weights if weights is not None else ({} if spec_text is not None else weights_of(s))
        out[name] = model_bytes(model_entries(s, inf, weights=w, spec_text=spec_text, **kw))

    mlp_text = json.dumps(mlp)
    w_mlp = weights_of(mlp)
    # The spec's JSON.
    bad_spec("bad_json_truncated", mlp, weights=w_mlp, spec_text=mlp_text[:-7])
    bad_spec("bad_json_trailing_text", mlp, weights=w_mlp, spec_text=mlp_text + " x")
    bad_spec("bad_json_number_option", mlp, weights=w_mlp,
             spec_text=mlp_text.replace('"in_features": "4"', '"in_features": 4'))
    bad_spec("bad_json_float", mlp, weights=w_mlp,
             spec_text=mlp_text.replace('"in_features": "4"', '"in_features": 4.0'))
    bad_spec("bad_json_duplicate_key", mlp, weights=w_mlp,
             spec_text=mlp_text.replace('"options": {}', '"options": {}, "options": {}', 1))
    bad_spec("bad_json_bad_escape", mlp, weights=w_mlp, spec_text=mlp_text.replace("ReLU", "Re\\qLU"))
    bad_spec("bad_json_unpaired_surrogate", mlp, weights=w_mlp,
             spec_text=mlp_text.replace("ReLU", "\\ud800LU"))
    bad_spec("bad_json_control_char", mlp, weights=w_mlp, spec_text=mlp_text.replace("ReLU", "Re\x01LU"))
    bad_spec("bad_json_unknown_key", mlp, weights=w_mlp,
             spec_text=mlp_text.replace('"type": "ReLU"', '"type": "ReLU", "name": "r"'))
    bad_spec("bad_json_not_an_object", mlp, weights=w_mlp, spec_text='["Sequential"]')
    bad_spec("bad_json_empty", mlp, weights=w_mlp, spec_text="")
    bad_spec("bad_json_arrays_nested_100", mlp, weights=w_mlp, spec_text="[" * 100 + "]" * 100)
    bad_spec("bad_json_arrays_nested_10000", mlp, weights=w_mlp, spec_text="[" * 10000)
    bad_spec("bad_json_integer_too_long", mlp, weights=w_mlp,
             info_text=json.dumps(mlp_info).replace('"num_classes": 3', '"num_classes": 30000000000000000000'))
    # The spec's content.
    bad_spec("bad_option_name_with_newline", seq(spec("Flatten", {"start_dim": "1", "e\nd_dim": "-1"})),
             inf=info([4], task="regression"))
    bad_spec("bad_type_with_control_chars", seq(act("Re\x7f\x1bLU")), inf=info([4], task="regression"))
    bad_spec("bad_unknown_type", seq(dense(4, 8), act("Swish"), dense(8, 3, init="xavier_uniform")),
             weights=w_mlp)
    bad_spec("bad_unknown_option", seq(spec("Dense", dict(dense(4, 8)["options"], units="8")), act("ReLU"),
                                       dense(8, 3, init="xavier_uniform")), weights=w_mlp)
    bad_spec("bad_missing_option", seq(spec("Dense", {"in_features": "4", "out_features": "8", "bias": "1"}),
                                       act("ReLU"), dense(8, 3, init="xavier_uniform")), weights=w_mlp)
    bad_spec("bad_option_not_an_integer", seq(dense("4x", 8), act("ReLU"), dense(8, 3)), weights=w_mlp)
    bad_spec("bad_option_bool_2", seq(dense(4, 8), act("ReLU"),
                                      spec("Dense", dict(dense(8, 3)["options"], bias="2"))), weights=w_mlp)
    bad_spec("bad_unknown_init", seq(dense(4, 8, init="glorot"), act("ReLU"), dense(8, 3)), weights=w_mlp)
    bad_spec("bad_children_on_a_leaf", seq(spec("ReLU", children=[act("ReLU")])), inf=info([4], task="regression"))
    bad_spec("bad_options_on_sequential", spec("Sequential", {"x": "1"}, [dense(4, 3)]))
    bad_spec("bad_conv_groups", seq(conv2d(3, 4, "1,1", groups=2), flatten(), dense(4, 3)),
             inf=info([3, 1, 1], num_classes=3), weights={})
    bad_spec("bad_pool_padding", seq(pool("MaxPool2d", "2,2", "2,2", padding="2,0"), flatten(), dense(4, 3)),
             inf=info([1, 4, 4], num_classes=3))
    bad_spec("bad_embedding_padding_idx", seq(spec("Embedding", {"num_embeddings": "3", "embedding_dim": "1",
                                                                 "padding_idx": "3"}), flatten(), dense(4, 3)),
             inf=info([4], num_classes=3), weights={})
    bad_spec("bad_dropout_p_1", seq(dense(4, 3), spec("Dropout", {"p": "1", "seed": "1"})))
    bad_spec("bad_dropout_seed_2pow64", seq(dense(4, 3), spec("Dropout", {"p": "0.5", "seed": "18446744073709551616"})))
    bad_spec("bad_eps_nan", seq(dense(4, 3), spec("BatchNorm1d", {"num_features": "3", "momentum": "0.1", "eps": "nan"})))
    bad_spec("bad_eps_underflows_to_zero",
             seq(dense(4, 3), spec("BatchNorm1d", {"num_features": "3", "momentum": "0.1", "eps": "1e-50"})))
    bad_spec("bad_rnn_nonlinearity", seq(recurrent("RNN", 4, 3, nonlinearity="gelu"), spec("LastTimeStep")),
             inf=info([2, 4], num_classes=3))
    bad_spec("bad_flatten_dim_9", seq(flatten(9), dense(4, 3)))
    bad_spec("bad_batchnorm1d_after_conv2d", seq(conv2d(2, 3, "1,1"), batch_norm("BatchNorm1d", 3),
                                                 spec("AdaptiveAvgPool2d", {"output_size": "1,1"}), flatten(),
                                                 dense(3, 2)), inf=info([2, 4, 3], num_classes=2))
    # Huge sizes: refused from the spec alone, before anything is allocated.
    bad_spec("huge_dense_2pow24_squared", seq(dense(2**24, 2**24)), weights={})
    bad_spec("huge_size_over_cap", seq(dense(2**24 + 1, 3)), weights={})
    bad_spec("huge_size_2pow63", seq(dense(2**63 - 1, 3)), weights={})
    bad_spec("huge_lstm_1024_layers", seq(recurrent("LSTM", 4, 4096, layers=1024), spec("LastTimeStep")),
             inf=info([2, 4], task="regression"), weights={})
    bad_spec("huge_children_4097", spec("Sequential", children=[act("ReLU")] * 4097), inf=info([4], task="regression"))
    bad_spec("huge_layernorm_no_affine", seq(spec("LayerNorm", {"normalized_shape": "16777216,16777216",
                                                                "eps": "1e-05", "elementwise_affine": "0"})),
             inf=info([4], task="regression"))
    # 33 Sequentials pass the JSON reader's depth cap and stop at the spec's; 40 stop at JSON's.
    for levels in (33, 40):
        deep = dense(4, 3)
        for _ in range(levels):
            deep = seq(deep)
        bad_spec(f"deep_sequential_nesting_{levels}", deep, inf=info([4], num_classes=3))
    # A 1x1x1 input padded by 2^24: a few bytes of spec, 2^50 floats of activations.
    bad_spec("huge_activation_conv_padding", seq(conv2d(1, 1, "1,1", padding="16777216,16777216"),
                                                 spec("AdaptiveAvgPool2d", {"output_size": "1,1"}),
                                                 flatten()), inf=info([1, 1, 1], task="regression"))
    # 2^24 * 2^24 * (2^16 + 1) wraps to 2^48 in 64 bits.
    bad_spec("huge_input_shape_product", seq(flatten()),
             inf=info([2**24, 2**24, 2**16 + 1], task="regression"))
    bad_spec("huge_num_classes", mlp, inf=info([4], num_classes=2**40))
    # The weights against the spec.
    w = dict(w_mlp)
    w["0.weight"] = ([4, 7], w["0.weight"][1][:28])
    defect("bad_weight_shape", "valid_mlp", **{"weights.0.weight": ("tensor", w["0.weight"])})
    defect("bad_weight_missing", "valid_mlp", **{"weights.2.bias": None})
    defect("bad_weight_extra", "valid_mlp", **{"weights.1.weight": ("tensor", ([1], [1.0]))})
    defect("bad_weight_nan", "valid_mlp", **{"weights.2.bias": ("tensor", ([1, 3], [0.0, float("nan"), 0.0]))})
    defect("bad_weight_inf", "valid_lenet_cnn", **{"weights.0.bias": ("tensor", ([2], [float("inf"), 0.0]))})
    defect("bad_running_var_integer", "valid_batchnorm_dropout_softmax",
           **{"weights.1.running_var": ("integer", 1)})
    defect("bad_dropout_rng_missing", "valid_batchnorm_dropout_softmax", **{"weights.3.rng.2": None})
    defect("bad_dropout_rng_zero", "valid_batchnorm_dropout_softmax",
           **{f"weights.3.rng.{k}": ("integer", 0) for k in range(4)})
    defect("bad_rng_unknown", "valid_mlp", **{"weights.0.rng.0": ("integer", 5)})
    defect("bad_weights_real", "valid_mlp", **{"weights.0.scale": ("real", 1.0)})
    # The other entries.
    defect("bad_no_version", "valid_mlp", model_file__version=None)
    defect("bad_version_2", "valid_mlp", model_file__version=("integer", 2))
    defect("bad_no_spec", "valid_mlp", model_file__spec=None)
    defect("bad_no_info", "valid_mlp", model_file__info=None)
    defect("bad_no_divisor", "valid_mlp", model_file__preprocessing__divisor=None)
    defect("bad_no_stddev", "valid_mlp", model_file__preprocessing__stddev=None)
    defect("bad_spec_as_integer", "valid_mlp", model_file__spec=("integer", 1))
    defect("bad_unknown_entry", "valid_mlp", model_file__comment=("text", "hi"))
    defect("bad_divisor_zero", "valid_mlp", model_file__preprocessing__divisor=("real", 0.0))
    defect("bad_divisor_nan", "valid_mlp", model_file__preprocessing__divisor=("real", float("nan")))
    defect("bad_mean_count", "valid_mlp", model_file__preprocessing__mean=("tensor", ([3], [0.0, 0.0, 0.0])))
    defect("bad_mean_rank2", "valid_mlp", model_file__preprocessing__mean=("tensor", ([1, 1], [0.0])))
    defect("bad_stddev_zero", "valid_mlp", model_file__preprocessing__stddev=("tensor", ([1], [0.0])))
    defect("bad_info_num_classes", "valid_mlp", model_file__info=("text", json.dumps(info([4], num_classes=4))))
    defect("bad_info_class_names", "valid_mlp",
           model_file__info=("text", json.dumps(info([4], num_classes=3, class_names=["a"]))))
    defect("bad_info_task", "valid_mlp",
           model_file__info=("text", json.dumps(dict(mlp_info, task="clustering"))))
    defect("bad_info_input_shape", "valid_single_dense_no_sequential",
           model_file__info=("text", json.dumps(info([5], num_classes=2))))
    defect("bad_info_input_shape_empty", "valid_mlp", model_file__info=("text", json.dumps(info([], num_classes=3))))
    defect("bad_info_input_shape_rank9", "valid_mlp",
           model_file__info=("text", json.dumps(info([1] * 8 + [4], num_classes=3))))
    defect("bad_info_input_shape_zero", "valid_mlp",
           model_file__info=("text", json.dumps(info([0], num_classes=3))))
    defect("bad_info_regression_with_classes", "valid_lstm_last_time_step_dense",
           model_file__info=("text", json.dumps(info([5, 3], task="regression", num_classes=2))))
    defect("bad_info_target_names", "valid_lstm_last_time_step_dense",
           model_file__info=("text", json.dumps(info([5, 3], task="regression", target_names=["a"]))))
    defect("bad_output_not_flat", "valid_lenet_cnn",
           model_file__info=("text", json.dumps(info([1, 8, 8, 1], num_classes=10))))
    # A training checkpoint (tapegrad-mnist --save) given as a model file.
    out["bad_training_checkpoint"] = seal(body([integer("progress.epochs_done", 1),
                                                tensor("model.0.weight", [2, 2], [1, 2, 3, 4])]))
    return out


def write(dirname, files):
    shutil.rmtree(dirname, ignore_errors=True)
    os.makedirs(dirname)
    for name, data in sorted(files.items()):
        with open(os.path.join(dirname, name), "wb") as f:
            f.write(data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    write(os.path.join(out, "checkpoint_fuzz"), checkpoints())
    write(os.path.join(out, "idx_fuzz"), idx_files())
    write(os.path.join(out, "model_fuzz"), model_files())
    print(f"make_corpus: wrote {out}/checkpoint_fuzz, {out}/idx_fuzz and {out}/model_fuzz")


if __name__ == "__main__":
    main()
