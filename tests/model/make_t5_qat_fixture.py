#!/usr/bin/python3
"""Reference fixture for int8 QAT in core/t5.c: a tiny T5ForConditionalGeneration
(make_t5_fixture.py's model code, ReLU feed-forward, tied head) with every
linear weight of every block (self-attention q, k, v, o; cross-attention
q, k, v, o; DenseReluDense wi, wo; nn.Linear [out, in]) fake-quantized per
output row (axis 0) with a learned step size (LSQ), through PyTorch's own
kernel, exactly as make_bert_qat_fixture.py does for BERT (its fake_quant
and make_scales are used here):

  w_q = torch._fake_quantize_learnable_per_channel_affine(
            w, scale, zero_point=0, axis=0, quant_min=-127, quant_max=127,
            grad_factor=1/sqrt(in * 127))

shared.weight, the relative position biases and the norms stay unquantized.

The model is smaller than make_t5_fixture.py's (dim 32, d_ff 64, vocab 260;
still 2 encoder and 2 decoder blocks, so block 1's offsets without the
relative bias are covered) to keep the fixture near 400 KB.

Writes tests/model/t5_qat_fixture.safetensors holding

  <HF name>               F32  the parameters (make_t5_fixture.py's init)
  <weight name>_scale     F32  [out] the step sizes (make_bert_qat_fixture's
                               make_scales: LSQ init per row times exp(0.2 z),
                               one weight in every 8th row at +-200 steps)
  inputs, targets         I32  [B, Te], [B, Td] as make_t5_fixture.py
  loss                    F32  [1]
  grad.<name>             F32  d loss / d parameter, step sizes included
  adam_losses             F32  [10] the loss before each of 10 AdamW steps

Fake quantization in float32 (the kernel's only dtype, and the model's),
everything else in float64. AdamW: lr 1e-4 (no step size comes near zero in
10 steps; checked), betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on 2-D
tensors only, float64, the same batch every step.

Run with Debian's torch:  /usr/bin/python3 tests/model/make_t5_qat_fixture.py
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import gpt_fixture_util as base  # noqa: E402  loss_and_grads, adamw_losses, writer
import make_bert_qat_fixture as lsq  # noqa: E402  fake_quant, make_scales, QMIN, QMAX
import make_t5_fixture as t5  # noqa: E402  the model

# The smaller model: make_t5_fixture's functions read these module globals.
t5.DIM, t5.D_FF, t5.VOCAB = 32, 64, 260
FF, TIED = "relu", True
SEED = 20261127
SCALE_SEED = 20261128
ADAM = dict(lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
ADAM_STEPS = 10
# The linear weights of a block, in core/t5.c's order (its step sizes follow
# the block's plain tensors in this order).
QUANTIZED = (".SelfAttention.q.weight", ".SelfAttention.k.weight",
             ".SelfAttention.v.weight", ".SelfAttention.o.weight",
             ".EncDecAttention.q.weight", ".EncDecAttention.k.weight",
             ".EncDecAttention.v.weight", ".EncDecAttention.o.weight",
             ".DenseReluDense.wi.weight", ".DenseReluDense.wo.weight")


def is_quantized(name):
    return name.endswith(QUANTIZED)


def param_specs():
    """(name, shape) in core/t5.c's unit/tensor order with QAT: each block's
    plain tensors, then the step sizes of its linear weights."""
    specs, block, weights = [], None, []

    def flush():
        specs.extend((w + "_scale", (shape[0],)) for w, shape in weights)
        weights.clear()
    for name, shape, _ in t5.param_specs(FF, TIED):
        b = ".".join(name.split(".")[:3]) if ".block." in name else None
        if b != block:
            flush()
            block = b
        specs.append((name, shape))
        if is_quantized(name):
            weights.append((name, shape))
    flush()
    return specs


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    params32 = t5.make_params(gen, FF, TIED)
    inputs = torch.randint(0, t5.VOCAB, (t5.B, t5.TE), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, t5.VOCAB, (t5.B, t5.TD), generator=gen, dtype=torch.int64)
    targets[1, t5.TD - 1] = -1
    quantized = [n for n, _, _ in t5.param_specs(FF, TIED) if is_quantized(n)]
    params32.update(lsq.make_scales(params32, torch.Generator().manual_seed(SCALE_SEED),
                                    quantized))
    names = [n for n, _ in param_specs()]
    assert sorted(names) == sorted(params32.keys())
    plain_forward = t5.make_forward(FF, TIED)

    def qat_forward(p, inp, tgt):
        q = dict(p)
        for name in quantized:
            q[name] = lsq.fake_quant(p[name], p[name + "_scale"])
        return plain_forward(q, inp, tgt)

    loss, grads = base.loss_and_grads(qat_forward, params32, inputs, targets)
    clamped = sum(int((params32[n].abs() / params32[n + "_scale"][:, None] > lsq.QMAX + 0.5)
                      .sum()) for n in quantized)

    def check_scales(q64):
        smallest = min(float(q64[n + "_scale"].min()) for n in quantized)
        assert smallest > 1e-4, "a step size came close to zero: %g" % smallest

    losses = base.adamw_losses(qat_forward, params32, inputs, targets, ADAM, ADAM_STEPS,
                               check_scales)
    tensors = [(n, params32[n]) for n in names]
    tensors += [("inputs", inputs.to(torch.int32)), ("targets", targets.to(torch.int32))]
    tensors += [("loss", torch.tensor([loss.item()], dtype=torch.float32))]
    tensors += [("grad." + n, grads[n].to(torch.float32)) for n in names]
    tensors += [("adam_losses", torch.tensor(losses, dtype=torch.float32))]
    metadata = {
        "generator": "tests/model/make_t5_qat_fixture.py", "torch": torch.__version__,
        "model.arch": "t5",
        "model.layers": str(t5.LAYERS), "model.decoder_layers": str(t5.DEC_LAYERS),
        "model.heads": str(t5.HEADS), "model.dim": str(t5.DIM), "model.d_ff": str(t5.D_FF),
        "model.context": str(t5.TE), "model.decoder_context": str(t5.TD),
        "model.vocab": str(t5.VOCAB), "model.ff": FF, "model.tie_embeddings": str(int(TIED)),
        "model.relative_attention_num_buckets": str(t5.NUM_BUCKETS),
        "model.relative_attention_max_distance": str(t5.MAX_DISTANCE),
        "batch": str(t5.B), "seed": str(SEED),
        "qat.qmin": str(lsq.QMIN), "qat.qmax": str(lsq.QMAX), "qat.axis": "0",
        "qat.clamped_weights": str(clamped),
        "reference_dtype": "float64 (fake quantization float32)",
        "adam.lr": repr(ADAM["lr"]), "adam.beta1": repr(ADAM["betas"][0]),
        "adam.beta2": repr(ADAM["betas"][1]), "adam.eps": repr(ADAM["eps"]),
        "adam.weight_decay": repr(ADAM["weight_decay"]), "adam.steps": str(ADAM_STEPS),
        "loss": repr(loss.item()),
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "t5_qat_fixture.safetensors")
    if len(sys.argv) > 1:
        out = sys.argv[1]
    base.write_safetensors(out, tensors, metadata)
    print("wrote %s: loss %.6f, %d clamped weights, adam losses %s" % (
        out, loss.item(), clamped, " ".join("%.6f" % x for x in losses)))


if __name__ == "__main__":
    main()
