#!/usr/bin/python3
"""make_format_vectors.py — the PyTorch reference vectors of the number
formats (tests/quant/format_vectors.bin, read by test_format_vectors.c).

    /usr/bin/python3 tests/quant/make_format_vectors.py [OUT]

needs python3-torch (made with 1.13) and numpy; the output is the same on
every run (fixed seed). It holds ~50k fp32 inputs with torch's
x.to(torch.bfloat16) and x.to(torch.float16) bits, and int8 fake-quantization
of a few matrices (per row, per column, per tensor) with
torch.fake_quantize_per_channel_affine / _per_tensor_affine, zero point 0,
range [-127, 127], with the q values (fake-quant output / scale, checked to
give the output back exactly).

torch runs with ATEN_CPU_CAPABILITY=default, i.e. the scalar c10::BFloat16
and c10::Half conversions that convert.h follows. The script also runs the
conversions on torch's vectorized (AVX2) path in a child process and reports
where the two differ: in torch 1.13 the AVX2 fp32->bf16 conversion turns
every NaN into 0xFFFF, where c10::BFloat16 gives 0x7FC0.

File layout (little-endian):
    char magic[8] = "LLMRTFV1"; uint32 version = 1
    uint32 n; float32 x[n]; uint16 bf16[n]; uint16 fp16[n]
    uint32 n_matrices; then for each:
        int32 rows, cols, axis (0: a scale per row, 1: per column, -1: one)
        float32 scales[rows | cols | 1]; float32 x[rows*cols];
        float32 fake_quant[rows*cols]; int8 q[rows*cols]
"""
import os
import struct
import subprocess
import sys

if __name__ == "__main__" and "ATEN_CPU_CAPABILITY" not in os.environ:
    os.environ["ATEN_CPU_CAPABILITY"] = "default"

import numpy as np
import torch

QMIN, QMAX = -127, 127


def f32(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def neighbourhood(bits, k):
    """bits-k .. bits+k (bit patterns), both signs."""
    out = []
    for b in bits:
        for d in range(-k, k + 1):
            v = (b + d) & 0x7FFFFFFF
            out += [v, v | 0x80000000]
    return out


def scalar_inputs(rng):
    special = [
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000,          # zeros, infinities
        0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001,          # NaNs: quiet, signalling
        0x7FA00000, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FC00001, 0x7F810000,
        0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF,  # subnormal, FLT_MIN, FLT_MAX
    ]
    boundaries = [
        0x477FE000,  # 65504, fp16 max
        0x477FF000,  # 65520: the midpoint to 2^16, rounds to inf
        0x47800000,  # 65536
        0x38800000,  # 2^-14, fp16 min normal
        0x33800000,  # 2^-24, fp16 min subnormal
        0x33000000,  # 2^-25: ties to 0
        0x33C00000,  # 1.5 * 2^-24: ties to 2^-23
        0x34200000,  # 2.5 * 2^-24: ties to 2^-23
        0x387FC000,  # largest fp16 subnormal
        0x387FE000,  # halfway between it and 2^-14
        0x3F800000,  # 1
        0x3F801000,  # 1 + 2^-11: fp16 tie, stays 1
        0x3F803000,  # 1 + 3 * 2^-11: fp16 tie, rounds up
        0x3F808000,  # bf16 tie, even below: stays
        0x3F818000,  # bf16 tie, odd below: rounds up
        0x7F7F0000,  # bf16 max
        0x7F7F8000,  # the midpoint to 2^128: rounds to inf
        0x00008000,  # bf16 tie among subnormals
        0x00018000,
        0x00800000,
        0x3FFFFFFF, 0x477FFFFF, 0x7F7FFFFF,
    ]
    bits = special + neighbourhood(boundaries, 64)
    # Every exponent with the patterns that matter for rounding: exact,
    # just below/at/above half of both dropped widths, all ones.
    for e in range(256):
        for m in (0, 1, 0x0FFF, 0x1000, 0x1001, 0x2000, 0x3000, 0x7FFF, 0x8000, 0x8001,
                  0x10000, 0x18000, 0x7FFFFF, 0x400000, 0x3FFFFF):
            bits += [(e << 23) | m, 0x80000000 | (e << 23) | m]
    bits += list(rng.integers(0, 2**32, size=28000, dtype=np.uint64).astype(np.uint32))
    # Values of ordinary magnitude (weights, activations, gradients).
    for scale in (1e-8, 1e-4, 1e-2, 1.0, 100.0, 3e4, 7e4):
        v = (rng.standard_normal(1200) * scale).astype(np.float32)
        bits += list(v.view(np.uint32))
    return np.array(bits, dtype=np.uint32)


def conversions(x):
    t = torch.from_numpy(x.copy())
    bf16 = t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16).copy()
    fp16 = t.to(torch.float16).view(torch.int16).numpy().view(np.uint16).copy()
    return bf16, fp16


def matrices(rng):
    """(x, scales, axis) cases: values around the scales, exact .5 ties and
    values far past 127 steps (clamping). No NaN or infinity: torch casts
    nearbyint's result to int64 first, which is undefined for those."""
    cases = []
    rows, cols = 48, 40
    for axis in (0, 1, -1):
        n_scales = rows if axis == 0 else cols if axis == 1 else 1
        scales = (np.float32(2.0) ** rng.integers(-12, 2, n_scales)).astype(np.float32)
        scales *= rng.uniform(0.5, 2.0, n_scales).astype(np.float32)
        x = (rng.standard_normal((rows, cols)) * 40.0).astype(np.float32)
        s_full = scales[:, None] if axis == 0 else scales[None, :] if axis == 1 else scales[0]
        x = (x * s_full).astype(np.float32)
        x[0, :8] = np.float32(1000.0) * (scales[:8] if axis == 1 else scales[0])  # clamps
        x[1, :8] = -x[0, :8]
        x[2, :4] = 0.0
        x[2, 4:8] = -0.0
        cases.append((x, scales, axis))
    # Exact ties: power-of-two scales make x * (1/s) exactly k + 0.5.
    rows, cols = 16, 32
    for axis in (0, 1):
        n_scales = rows if axis == 0 else cols
        scales = (np.float32(2.0) ** rng.integers(-10, 0, n_scales)).astype(np.float32)
        k = rng.integers(-140, 140, (rows, cols)).astype(np.float32) + np.float32(0.5)
        s_full = scales[:, None] if axis == 0 else scales[None, :]
        cases.append(((k * s_full).astype(np.float32), scales, axis))
    return cases


def fake_quant(x, scales, axis):
    t = torch.from_numpy(x.copy())
    if axis < 0:
        return torch.fake_quantize_per_tensor_affine(t, float(scales[0]), 0, QMIN,
                                                     QMAX).numpy().copy()
    zp = torch.zeros(len(scales), dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(t, torch.from_numpy(scales.copy()), zp, axis,
                                                  QMIN, QMAX).numpy().copy()


def q_values(fq, scales, axis):
    s = scales[:, None] if axis == 0 else scales[None, :] if axis == 1 else scales[0]
    q = np.rint(fq.astype(np.float64) / s.astype(np.float64))
    assert np.all(q >= QMIN) and np.all(q <= QMAX)
    back = (q.astype(np.float32) * s).astype(np.float32)
    assert np.array_equal(back.view(np.uint32), fq.view(np.uint32)), "q * s != fake-quant output"
    return q.astype(np.int8)


def vectorized_differences(x):
    """Run the conversions on torch's AVX2 path in a child; count differences."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2")
    code = ("import sys, numpy as np, torch; x = np.frombuffer(sys.stdin.buffer.read(), "
            "dtype=np.float32); t = torch.from_numpy(x.copy()); "
            "sys.stdout.buffer.write(t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()); "
            "sys.stdout.buffer.write(t.to(torch.float16).view(torch.int16).numpy().tobytes())")
    r = subprocess.run([sys.executable, "-c", code], input=x.tobytes(), env=env,
                       capture_output=True, check=True)
    v = np.frombuffer(r.stdout, dtype=np.uint16)
    return v[:len(x)], v[len(x):]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "format_vectors.bin")
    rng = np.random.default_rng(20240520)
    bits = scalar_inputs(rng)
    x = bits.view(np.float32)
    bf16, fp16 = conversions(x)
    cases = matrices(rng)

    nan = np.isnan(x)
    vb, vh = vectorized_differences(x)
    print(f"torch {torch.__version__}, scalar path; vectorized (AVX2) path differs on "
          f"{np.count_nonzero(vb != bf16)} bf16 values ({np.count_nonzero((vb != bf16) & ~nan)} "
          f"not NaN; NaN gives {sorted(set(hex(v) for v in vb[nan]))}) and "
          f"{np.count_nonzero(vh != fp16)} fp16 values")

    with open(out, "wb") as f:
        f.write(b"LLMRTFV1" + struct.pack("<II", 1, len(x)))
        f.write(x.astype("<f4").tobytes())
        f.write(bf16.astype("<u2").tobytes())
        f.write(fp16.astype("<u2").tobytes())
        f.write(struct.pack("<I", len(cases)))
        for xm, scales, axis in cases:
            fq = fake_quant(xm, scales, axis)
            q = q_values(fq, scales, axis)
            f.write(struct.pack("<iii", xm.shape[0], xm.shape[1], axis))
            f.write(scales.astype("<f4").tobytes())
            f.write(xm.astype("<f4").tobytes())
            f.write(fq.astype("<f4").tobytes())
            f.write(q.tobytes())
    print(f"{out}: {len(x)} scalars, {len(cases)} matrices, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
