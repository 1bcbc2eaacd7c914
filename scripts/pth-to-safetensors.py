#!/usr/bin/env python3
"""Converts a PyTorch state_dict (.pth) to safetensors, the format advfree reads: every tensor as stored, in
the file's order, with optional string metadata (e.g. architecture=mnist-net dataset=mnist). Needs only torch
(Debian's python3-torch); the safetensors layout is written here: an 8-byte little-endian header length, the JSON
header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the raw little-endian bytes.

usage: pth-to-safetensors.py IN.pth OUT.safetensors [KEY=VALUE ...]
"""
import json
import os
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8"}


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    src, out, meta = argv[1], argv[2], dict(a.split("=", 1) for a in argv[3:])
    if os.path.exists(out):
        sys.exit(f"{out} exists; refusing to overwrite it (move it away first)")
    state = torch.load(src, map_location="cpu")
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        sys.exit(f"{src}: not a state_dict of tensors (a full pickled model or a training checkpoint? save model.state_dict())")
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        if t.dtype not in DTYPES:
            sys.exit(f"{src}: tensor {name!r} has dtype {t.dtype}; supported: {', '.join(map(str, DTYPES))}")
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if meta:
        header["__metadata__"] = meta
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = f"{out}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)
    os.rename(tmp, out)
    print(f"{out}: {len(state)} tensors, {offset} bytes of data")


if __name__ == "__main__":
    main(sys.argv)
