#!/usr/bin/python3
"""Reference fixture for int8 QAT in core/gpt.c: the tiny GPT-2 of
make_gpt_fixture.py with every linear weight of the blocks (attn.c_attn,
attn.c_proj, mlp.c_fc, mlp.c_proj; HF Conv1D [in, out]) fake-quantized per
output channel with a learned step size (LSQ, Esser et al. 2019), through
PyTorch's own kernel:

  w_q = torch._fake_quantize_learnable_per_channel_affine(
            w, scale, zero_point=0, axis=1, quant_min=-127, quant_max=127,
            grad_factor=1/sqrt(in * 127))

Writes tests/model/gpt_qat_fixture.safetensors holding

  <HF GPT-2 name>         F32  the parameters of make_gpt_fixture.py (same seed)
  <weight name>_scale     F32  [out] the step sizes (see make_scales)
  inputs, targets         I32  [B, T] the batch of make_gpt_fixture.py
  loss                    F32  [1]
  grad.<name>             F32  d loss / d parameter, step sizes included
  adam_losses             F32  [10] the loss before each of 10 AdamW steps

Precision: PyTorch's learnable fake quantizer runs in float32 only (which is
also what the model does: weights and step sizes are fp32, and the rounding
decisions must be those of float32, convert.h rule 4). So the fake
quantization runs in float32 on the float32 weights, and everything else
(the model on the quantized weights, the loss, the rest of the backward, the
AdamW trajectory) in float64 as in make_gpt_fixture.py; autograd carries the
gradient through the casts.

Step sizes: LSQ's initialisation 2 mean|w| / sqrt(127) per column, times a
random factor exp(0.2 z) so that they are not all alike. One element in
every 8th column of each quantized weight is then set to +-200 steps, so
that the clamped branch of the LSQ gradient (and a zero straight-through
gradient) is exercised.

AdamW: lr 1e-4 (so that no step size can reach zero in 10 steps: each moves
by at most about lr per step and the smallest is above 1e-3; the script
checks it), betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on 2-D tensors
only (step sizes are 1-D: no decay), float64, the same batch every step.

Run with Debian's torch:  /usr/bin/python3 tests/model/make_qat_fixture.py
"""
import math
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ beside the fixtures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt_fixture_util as base  # noqa: E402  the same model, batch, runs and writer

QMIN, QMAX = -127, 127
QUANTIZED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
             "mlp.c_proj.weight")
ADAM = dict(lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
ADAM_STEPS = 10
SCALE_SEED = 20240521


def quantized_names():
    return ["transformer.h.%d.%s" % (l, w) for l in range(base.LAYERS) for w in QUANTIZED]


def param_specs():
    """(name, shape) in the unit/tensor order of core/gpt.c with QAT: each
    block's twelve tensors, then its four step sizes."""
    specs = []
    for name, shape, _ in base.param_specs():
        specs.append((name, shape))
        if name.endswith("mlp.c_proj.bias"):
            prefix = name[: -len("mlp.c_proj.bias")]
            for w in QUANTIZED:
                wshape = dict((n, s) for n, s, _ in base.param_specs())[prefix + w]
                specs.append((prefix + w + "_scale", (wshape[1],)))
    return specs


def make_scales(params, gen):
    """LSQ init per column, perturbed; then outliers that clamp."""
    scales = {}
    for name in quantized_names():
        w = params[name].to(torch.float64)
        s = 2.0 * w.abs().mean(dim=0) / math.sqrt(QMAX)
        s = s * torch.exp(0.2 * torch.randn(s.shape, generator=gen, dtype=torch.float64))
        scales[name + "_scale"] = s.to(torch.float32)
        rows, cols = w.shape
        wq = params[name].clone()
        for c in range(0, cols, 8):
            r = int(torch.randint(0, rows, (1,), generator=gen))
            sign = 1.0 if (c // 8) % 2 == 0 else -1.0
            wq[r, c] = sign * 200.0 * float(scales[name + "_scale"][c])
        params[name] = wq
    return scales


def fake_quant(w, scale):
    """LSQ on a [in, out] weight, per output channel, in float32."""
    rows = w.shape[0]
    zero_point = torch.zeros(scale.shape, dtype=torch.float32)
    return torch._fake_quantize_learnable_per_channel_affine(
        w.to(torch.float32), scale.to(torch.float32), zero_point, 1, QMIN, QMAX,
        1.0 / math.sqrt(rows * QMAX)).to(w.dtype)


def qat_forward(p, inputs, targets):
    q = dict(p)
    for name in quantized_names():
        q[name] = fake_quant(p[name], p[name + "_scale"])
    return base.gpt_forward(q, inputs, targets)


def main():
    params32, inputs, targets = base.make_params_and_batch()
    params32.update(make_scales(params32, torch.Generator().manual_seed(SCALE_SEED)))
    names = [n for n, _ in param_specs()]
    assert sorted(names) == sorted(params32.keys())

    loss, grads = base.loss_and_grads(qat_forward, params32, inputs, targets)
    clamped = sum(int((grads[n] == 0).sum()) for n in quantized_names())

    def check_scales(q64):
        smallest = min(float(q64[n + "_scale"].min()) for n in quantized_names())
        assert smallest > 1e-4, "a step size came close to zero: %g" % smallest

    adam_losses = base.adamw_losses(qat_forward, params32, inputs, targets, ADAM, ADAM_STEPS,
                                    check_scales)
    out = base.write_fixture(
        "gpt_qat_fixture.safetensors", "make_qat_fixture.py", names, params32, inputs,
        targets, loss, grads, adam_losses, ADAM,
        {"qat.qmin": str(QMIN), "qat.qmax": str(QMAX), "qat.axis": "1",
         "qat.clamped_weights": str(clamped)},
        "float64 (fake quantization float32)")
    print("wrote %s: loss %.6f, %d clamped weights, adam losses %s" % (
        out, loss.item(), clamped, " ".join("%.6f" % x for x in adam_losses)))


if __name__ == "__main__":
    main()
