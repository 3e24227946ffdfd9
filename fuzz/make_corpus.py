#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/corpus/<target>/ (stdlib only).

Valid files (named valid_*) with every entry kind / both IDX kinds, plus truncated and mutated variants that
each stop the reader at a different check. Deterministic: rerunning rewrites the same bytes.
    python3 fuzz/make_corpus.py [OUT_DIR]      (default: fuzz/corpus next to this script)
"""
import gzip
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
    print(f"make_corpus: wrote {out}/checkpoint_fuzz and {out}/idx_fuzz")


if __name__ == "__main__":
    main()
