#!/usr/bin/python3
"""Reference fixture for int8 QAT in core/bert.c: the tiny BertForMaskedLM of
make_bert_fixture.py with the four linear layers of every encoder block
(attention.self.query/key/value, attention.output.dense, intermediate.dense,
output.dense; nn.Linear [out, in]) fake-quantized per output channel (a row:
axis 0) with a learned step size (LSQ), through PyTorch's own kernel, as
make_qat_fixture.py does for the GPT (there per column of [in, out]):

  w_q = torch._fake_quantize_learnable_per_channel_affine(
            w, scale, zero_point=0, axis=0, quant_min=-127, quant_max=127,
            grad_factor=1/sqrt(in * 127))

The embeddings and the MLM head (cls.predictions.transform.dense included)
stay unquantized.

Writes tests/model/bert_qat_fixture.safetensors holding

  <HF name>               F32  the parameters of make_bert_fixture.py (same seed)
  <weight name>_scale     F32  [out] the step sizes (see make_scales)
  inputs, targets         I32  [B, T] the batch of make_bert_fixture.py
  loss                    F32  [1]
  grad.<name>             F32  d loss / d parameter, step sizes included
  adam_losses             F32  [10] the loss before each of 10 AdamW steps

Precision as in make_qat_fixture.py: the fake quantization in float32 (the
kernel's only dtype, and the model's), everything else in float64.
Step sizes: LSQ's init 2 mean|w| / sqrt(127) per row times exp(0.2 z); one
weight in every 8th row of each quantized weight set to +-200 steps, so that
the clamped branch is exercised. AdamW: lr 1e-4 (no step size comes near
zero in 10 steps; checked), betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on
2-D tensors only, float64, the same batch every step.

Run with Debian's torch:  /usr/bin/python3 tests/model/make_bert_qat_fixture.py
"""
import math
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import gpt_fixture_util as base  # noqa: E402  loss_and_grads, adamw_losses, writer
import make_bert_fixture as bert  # noqa: E402  the model, parameters and batch

QMIN, QMAX = -127, 127
QUANTIZED = ("attention.self.query.weight", "attention.self.key.weight",
             "attention.self.value.weight", "attention.output.dense.weight",
             "intermediate.dense.weight", "output.dense.weight")
ADAM = dict(lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
ADAM_STEPS = 10
SCALE_SEED = 20240522


def quantized_names():
    return ["bert.encoder.layer.%d.%s" % (l, w) for l in range(bert.LAYERS) for w in QUANTIZED]


def param_specs():
    """(name, shape) in the unit/tensor order of core/bert.c with QAT: each
    block's sixteen tensors, then its six step sizes."""
    shapes = dict((n, s) for n, s, _ in bert.param_specs())
    specs = []
    for name, shape, _ in bert.param_specs():
        specs.append((name, shape))
        if name.endswith("output.LayerNorm.bias") and ".attention." not in name:
            prefix = name[: -len("output.LayerNorm.bias")]
            specs += [(prefix + w + "_scale", (shapes[prefix + w][0],)) for w in QUANTIZED]
    return specs


def make_scales(params, gen, names=None):
    """LSQ init per row, perturbed; then outliers that clamp. names: the
    [out, in] weights to quantize (default: bert's)."""
    scales = {}
    for name in names if names is not None else quantized_names():
        w = params[name].to(torch.float64)
        s = 2.0 * w.abs().mean(dim=1) / math.sqrt(QMAX)
        s = s * torch.exp(0.2 * torch.randn(s.shape, generator=gen, dtype=torch.float64))
        scales[name + "_scale"] = s.to(torch.float32)
        rows, cols = w.shape
        wq = params[name].clone()
        for r in range(0, rows, 8):
            c = int(torch.randint(0, cols, (1,), generator=gen))
            sign = 1.0 if (r // 8) % 2 == 0 else -1.0
            wq[r, c] = sign * 200.0 * float(scales[name + "_scale"][r])
        params[name] = wq
    return scales


def fake_quant(w, scale):
    """LSQ on an [out, in] weight, per output channel (row), in float32."""
    cols = w.shape[1]
    zero_point = torch.zeros(scale.shape, dtype=torch.float32)
    return torch._fake_quantize_learnable_per_channel_affine(
        w.to(torch.float32), scale.to(torch.float32), zero_point, 0, QMIN, QMAX,
        1.0 / math.sqrt(cols * QMAX)).to(w.dtype)


def qat_forward(p, inputs, targets):
    q = dict(p)
    for name in quantized_names():
        q[name] = fake_quant(p[name], p[name + "_scale"])
    return bert.bert_forward(q, inputs, targets)


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(bert.SEED)
    params32 = bert.make_params(gen)
    inputs, targets = bert.make_batch(gen)
    params32.update(make_scales(params32, torch.Generator().manual_seed(SCALE_SEED)))
    names = [n for n, _ in param_specs()]
    assert sorted(names) == sorted(params32.keys())

    loss, grads = base.loss_and_grads(qat_forward, params32, inputs, targets)
    clamped = sum(int((grads[n] == 0).sum()) for n in quantized_names())

    def check_scales(q64):
        smallest = min(float(q64[n + "_scale"].min()) for n in quantized_names())
        assert smallest > 1e-4, "a step size came close to zero: %g" % smallest

    losses = base.adamw_losses(qat_forward, params32, inputs, targets, ADAM, ADAM_STEPS,
                               check_scales)
    tensors = [(n, params32[n]) for n in names]
    tensors += [("inputs", inputs.to(torch.int32)), ("targets", targets.to(torch.int32))]
    tensors += [("loss", torch.tensor([loss.item()], dtype=torch.float32))]
    tensors += [("grad." + n, grads[n].to(torch.float32)) for n in names]
    tensors += [("adam_losses", torch.tensor(losses, dtype=torch.float32))]
    metadata = {
        "generator": "tests/model/make_bert_qat_fixture.py", "torch": torch.__version__,
        "model.arch": "bert",
        "model.layers": str(bert.LAYERS), "model.heads": str(bert.HEADS),
        "model.dim": str(bert.DIM), "model.context": str(bert.CONTEXT),
        "model.vocab": str(bert.VOCAB),
        "batch": str(bert.B), "seq_len": str(bert.T), "seed": str(bert.SEED),
        "qat.qmin": str(QMIN), "qat.qmax": str(QMAX), "qat.axis": "0",
        "qat.clamped_weights": str(clamped),
        "reference_dtype": "float64 (fake quantization float32)",
        "adam.lr": repr(ADAM["lr"]), "adam.beta1": repr(ADAM["betas"][0]),
        "adam.beta2": repr(ADAM["betas"][1]), "adam.eps": repr(ADAM["eps"]),
        "adam.weight_decay": repr(ADAM["weight_decay"]), "adam.steps": str(ADAM_STEPS),
        "loss": repr(loss.item()),
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bert_qat_fixture.safetensors")
    if len(sys.argv) > 1:
        out = sys.argv[1]
    base.write_safetensors(out, tensors, metadata)
    print("wrote %s: %d targets, loss %.6f, %d clamped weights, adam losses %s" % (
        out, int((targets >= 0).sum()), loss.item(), clamped,
        " ".join("%.6f" % x for x in losses)))


if __name__ == "__main__":
    main()
