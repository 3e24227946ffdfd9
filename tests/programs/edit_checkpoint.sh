#!/usr/bin/env bash
# Rewrites entries of a checkpoint (format: include/tapegrad/io/checkpoint.hpp, version 2).
# usage: edit_checkpoint.sh IN OUT NAME=KIND:VALUE... (KIND: integer, real or text;
# "text:@FILE" reads the value from FILE). Used by the program tests.
set -euo pipefail
python3 - "$@" <<'EOF'
import struct, sys, zlib
src, dst, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
b = open(src, "rb").read()
assert b[:8] == b"TAPEGRAD" and struct.unpack_from("<I", b, 8)[0] == 2
count = struct.unpack_from("<Q", b, 16)[0]
pos, entries = 24, []
for _ in range(count):
    kind, n = struct.unpack_from("<BI", b, pos)
    name = b[pos + 5:pos + 5 + n].decode()
    start, pos = pos, pos + 5 + n
    if kind == 0:
        rank = struct.unpack_from("<I", b, pos + 1)[0]
        dims = struct.unpack_from("<%dQ" % rank, b, pos + 5)
        size = 1
        for d in dims:
            size *= d
        pos += 5 + 8 * rank + 4 * size
    elif kind in (1, 2):
        pos += 8
    else:
        pos += 8 + struct.unpack_from("<Q", b, pos)[0]
    entries.append([kind, name, b[start:pos]])
def entry(kind, name, payload):
    return struct.pack("<BI", kind, len(name)) + name.encode() + payload
for e in edits:
    name, spec = e.split("=", 1)
    kind, value = spec.split(":", 1)
    if kind == "integer":
        new = [1, name, entry(1, name, struct.pack("<q", int(value)))]
    elif kind == "real":
        new = [2, name, entry(2, name, struct.pack("<d", float(value)))]
    else:
        text = open(value[1:], "rb").read() if value.startswith("@") else value.encode()
        new = [3, name, entry(3, name, struct.pack("<Q", len(text)) + text)]
    entries = [x for x in entries if x[1] != name] + [new]
entries.sort(key=lambda x: (x[0], x[1].encode()))
body = b"TAPEGRAD" + struct.pack("<IIQ", 2, 0, len(entries)) + b"".join(x[2] for x in entries)
open(dst, "wb").write(body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF))
EOF

