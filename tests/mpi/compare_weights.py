#!/usr/bin/env python3
"""compare_weights.py A.safetensors B.safetensors TOL

Compare every F32 tensor of two safetensors files (standard library only).
Prints "identical" when the files' tensors are bit-identical, else the
largest absolute difference relative to max(1, |max element|) per file;
exits 1 when a tensor is missing or that difference exceeds TOL."""
import json, struct, sys
from array import array


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = array("f", data[a:b])
    return out


def main():
    a, b, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
    if set(a) != set(b):
        print("tensor names differ:", sorted(set(a) ^ set(b)))
        return 1
    if all(a[k].tobytes() == b[k].tobytes() for k in a):
        print("identical (%d tensors)" % len(a))
        return 0
    worst, where = 0.0, ""
    for k in a:
        scale = max(1.0, max(abs(x) for x in a[k]))
        d = max(abs(x - y) for x, y in zip(a[k], b[k])) / scale
        if d > worst:
            worst, where = d, k
    print("max relative difference %.3g (in %s), tolerance %g" % (worst, where, tol))
    return 0 if worst <= tol else 1


sys.exit(main())
