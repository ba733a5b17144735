#!/usr/bin/python3
"""Reference fixtures for core/t5.c: a tiny T5ForConditionalGeneration in
plain PyTorch.

transformers is not installed beside Debian's torch, so the model is written
out following Hugging Face's modeling_t5.py (T5LayerNorm: RMS, fp32 variance,
eps 1e-6, no bias; T5Attention: no 1/sqrt(d_kv) scaling, relative position
bias from block 0 of each stack with _relative_position_bucket, bidirectional
in the encoder and causal in the decoder, none in the cross-attention;
T5DenseActDense (ReLU) and T5DenseGatedActDense (gelu_new = GELU tanh);
pre-norm residual blocks; final layer norms; the LM head tied to shared with
the d_model^-0.5 scaling, or untied without it; labels shifted right with
the pad id 256 as decoder start, -1 ignored), with HF's parameter names and
nn.Linear [out, in] shapes. No dropout.

Writes two fixtures, one per feed-forward kind:
  tests/model/t5_relu_fixture.safetensors    ff relu, tied LM head
  tests/model/t5_gated_fixture.safetensors   ff gated-gelu, untied lm_head.weight
each holding

  <HF name>              F32  the parameters (seeded, HF's init scales; norm
                              weights perturbed away from 1)
  inputs                 I32  [B, Te] encoder input
  targets                I32  [B, Td] labels (one -1: ignored); the decoder
                              input is them shifted right behind pad (256)
  loss                   F32  [1] mean cross-entropy over the labels >= 0
  grad.<HF name>         F32  d loss / d parameter
  adam_losses            F32  [10] the loss before each of 10 AdamW steps
  adam_rms_losses        F32  [10] the same with [train] lr_scale = rms at lr
                              1e-2: each tensor's lr times max(1e-3, its RMS)
  buckets.bidirectional  I32  [601] _relative_position_bucket(r, True, 32, 128)
  buckets.causal         I32  [601] ... (r, False, 32, 128), r = -300 .. 300

The model's own buckets are 8 with max_distance 20, so that the short
sequences reach the logarithmic buckets in both stacks. Loss, gradients and
the AdamW run are float64 from the float32 weights (AdamW as
make_gpt_fixture.py: lr 1e-3, betas (0.9, 0.95), eps 1e-8, weight decay 0.1
on 2-D tensors).

Run with Debian's torch:  /usr/bin/python3 tests/model/make_t5_fixture.py
"""
import math
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gpt_fixture_util as base  # noqa: E402  loss_and_grads, adamw_losses, writer

LAYERS, DEC_LAYERS, DIM, HEADS, D_FF, VOCAB = 2, 2, 64, 4, 128, 272
NUM_BUCKETS, MAX_DISTANCE = 8, 20
B, TE, TD = 2, 16, 12
PAD = 256
EPS = 1e-6
SEED = 20261126
ADAM = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
ADAM_STEPS = 10
# lr_scale = rms multiplies lr by RMS values of 0.03 to 1 here: a larger base.
ADAM_RMS = dict(ADAM, lr=1e-2)
RMS_FLOOR = 1e-3


def ff_specs(prefix, ff, C):
    if ff == "relu":
        s = [(prefix + "DenseReluDense.wi.weight", (D_FF, C), C ** -0.5)]
    else:
        s = [(prefix + "DenseReluDense.wi_0.weight", (D_FF, C), C ** -0.5),
             (prefix + "DenseReluDense.wi_1.weight", (D_FF, C), C ** -0.5)]
    return s + [(prefix + "DenseReluDense.wo.weight", (C, D_FF), D_FF ** -0.5),
                (prefix + "layer_norm.weight", (C,), None)]


def attn_specs(prefix, kind, C, with_bias):
    dkv = C // HEADS
    s = [(prefix + kind + ".q.weight", (C, C), (C * dkv) ** -0.5),
         (prefix + kind + ".k.weight", (C, C), C ** -0.5),
         (prefix + kind + ".v.weight", (C, C), C ** -0.5),
         (prefix + kind + ".o.weight", (C, C), C ** -0.5)]
    if with_bias:
        s.append((prefix + kind + ".relative_attention_bias.weight", (NUM_BUCKETS, HEADS),
                  C ** -0.5))
    return s + [(prefix + "layer_norm.weight", (C,), None)]


def param_specs(ff, tied):
    """(name, shape, init std or None for a norm) in core/t5.c's order."""
    C = DIM
    specs = [("shared.weight", (VOCAB, C), 1.0)]
    for l in range(LAYERS):
        p = "encoder.block.%d.layer." % l
        specs += attn_specs(p + "0.", "SelfAttention", C, l == 0)
        specs += ff_specs(p + "1.", ff, C)
    specs.append(("encoder.final_layer_norm.weight", (C,), None))
    for l in range(DEC_LAYERS):
        p = "decoder.block.%d.layer." % l
        specs += attn_specs(p + "0.", "SelfAttention", C, l == 0)
        specs += attn_specs(p + "1.", "EncDecAttention", C, False)
        specs += ff_specs(p + "2.", ff, C)
    specs.append(("decoder.final_layer_norm.weight", (C,), None))
    if not tied:
        # HF draws lm_head from N(0, 1); with unit-RMS decoder outputs that
        # starts at a loss near 24 that AdamW drives to ~0.01 in 10 steps, too
        # small to compare relatively, so the fixture scales it by C^-0.5.
        specs.append(("lm_head.weight", (VOCAB, C), C ** -0.5))
    return specs


def make_params(gen, ff, tied):
    params = {}
    for name, shape, std in param_specs(ff, tied):
        z = torch.randn(shape, generator=gen, dtype=torch.float64)
        v = 1.0 + 0.1 * z if std is None else std * z
        params[name] = v.to(torch.float32)
    return params


def relative_position_bucket(relative_position, bidirectional, num_buckets, max_distance):
    """HF T5Attention._relative_position_bucket, verbatim."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1))
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


def compute_bias(weight, q_len, k_len, bidirectional):
    """HF T5Attention.compute_bias: [1, H, q_len, k_len]."""
    context = torch.arange(q_len, dtype=torch.long)[:, None]
    memory = torch.arange(k_len, dtype=torch.long)[None, :]
    buckets = relative_position_bucket(memory - context, bidirectional, NUM_BUCKETS,
                                       MAX_DISTANCE)
    return weight[buckets].permute(2, 0, 1).unsqueeze(0)


def rms_norm(x, w):
    var = x.to(torch.float32 if x.dtype == torch.float32 else x.dtype).pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + EPS))


def attention(p, name, xq, xkv, bias, causal):
    Bn, Tq, C = xq.shape
    Tk = xkv.shape[1]
    dkv = C // HEADS

    def heads(t, n):
        return t.view(Bn, n, HEADS, dkv).transpose(1, 2)
    q = heads(xq @ p[name + ".q.weight"].t(), Tq)
    k = heads(xkv @ p[name + ".k.weight"].t(), Tk)
    v = heads(xkv @ p[name + ".v.weight"].t(), Tk)
    scores = q @ k.transpose(-1, -2)  # T5: no 1/sqrt(d_kv)
    if bias is not None:
        scores = scores + bias
    if causal:
        mask = torch.triu(torch.ones(Tq, Tk, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
    w = F.softmax(scores.float() if scores.dtype == torch.float32 else scores, dim=-1)
    ctx = (w @ v).transpose(1, 2).reshape(Bn, Tq, C)
    return ctx @ p[name + ".o.weight"].t()


def feed_forward(p, prefix, x, ff):
    if ff == "relu":
        h = F.relu(x @ p[prefix + "DenseReluDense.wi.weight"].t())
    else:
        h = (F.gelu(x @ p[prefix + "DenseReluDense.wi_0.weight"].t(), approximate="tanh") *
             (x @ p[prefix + "DenseReluDense.wi_1.weight"].t()))
    return h @ p[prefix + "DenseReluDense.wo.weight"].t()


def shift_right(labels):
    dec = torch.full_like(labels, PAD)
    dec[:, 1:] = labels[:, :-1]
    dec[dec < 0] = PAD
    return dec


def make_forward(ff, tied):
    def t5_forward(p, inputs, targets):
        x = p["shared.weight"][inputs]
        bias = None
        for l in range(LAYERS):
            pre = "encoder.block.%d.layer." % l
            if l == 0:
                bias = compute_bias(p[pre + "0.SelfAttention.relative_attention_bias.weight"],
                                    inputs.shape[1], inputs.shape[1], True)
            h = rms_norm(x, p[pre + "0.layer_norm.weight"])
            x = x + attention(p, pre + "0.SelfAttention", h, h, bias, False)
            x = x + feed_forward(p, pre + "1.", rms_norm(x, p[pre + "1.layer_norm.weight"]), ff)
        enc = rms_norm(x, p["encoder.final_layer_norm.weight"])
        dec_in = shift_right(targets)
        y = p["shared.weight"][dec_in]
        Td = dec_in.shape[1]
        for l in range(DEC_LAYERS):
            pre = "decoder.block.%d.layer." % l
            if l == 0:
                bias = compute_bias(p[pre + "0.SelfAttention.relative_attention_bias.weight"],
                                    Td, Td, False)
            h = rms_norm(y, p[pre + "0.layer_norm.weight"])
            y = y + attention(p, pre + "0.SelfAttention", h, h, bias, True)
            h = rms_norm(y, p[pre + "1.layer_norm.weight"])
            y = y + attention(p, pre + "1.EncDecAttention", h, enc, None, False)
            y = y + feed_forward(p, pre + "2.", rms_norm(y, p[pre + "2.layer_norm.weight"]), ff)
        y = rms_norm(y, p["decoder.final_layer_norm.weight"])
        if tied:
            logits = (y * DIM ** -0.5) @ p["shared.weight"].t()
        else:
            logits = y @ p["lm_head.weight"].t()
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-1)
        return logits, loss
    return t5_forward


def make_fixture(ff, tied, file):
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED + (0 if ff == "relu" else 1))
    params32 = make_params(gen, ff, tied)
    inputs = torch.randint(0, VOCAB, (B, TE), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, VOCAB, (B, TD), generator=gen, dtype=torch.int64)
    targets[1, TD - 1] = -1
    forward = make_forward(ff, tied)
    loss, grads = base.loss_and_grads(forward, params32, inputs, targets)
    losses = base.adamw_losses(forward, params32, inputs, targets, ADAM, ADAM_STEPS)
    rms_losses = base.adamw_losses(forward, params32, inputs, targets, ADAM_RMS, ADAM_STEPS,
                                   rms_floor=RMS_FLOOR)
    names = [n for n, _, _ in param_specs(ff, tied)]
    rel = torch.arange(-300, 301, dtype=torch.long)
    tensors = [(n, params32[n]) for n in names]
    tensors += [("inputs", inputs.to(torch.int32)), ("targets", targets.to(torch.int32))]
    tensors += [("loss", torch.tensor([loss.item()], dtype=torch.float32))]
    tensors += [("grad." + n, grads[n].to(torch.float32)) for n in names]
    tensors += [("adam_losses", torch.tensor(losses, dtype=torch.float32))]
    tensors += [("adam_rms_losses", torch.tensor(rms_losses, dtype=torch.float32))]
    tensors += [("buckets.bidirectional",
                 relative_position_bucket(rel, True, 32, 128).to(torch.int32)),
                ("buckets.causal", relative_position_bucket(rel, False, 32, 128).to(torch.int32))]
    metadata = {
        "generator": "tests/model/make_t5_fixture.py", "torch": torch.__version__,
        "model.arch": "t5",
        "model.layers": str(LAYERS), "model.decoder_layers": str(DEC_LAYERS),
        "model.heads": str(HEADS), "model.dim": str(DIM), "model.d_ff": str(D_FF),
        "model.context": str(TE), "model.decoder_context": str(TD),
        "model.vocab": str(VOCAB), "model.ff": ff, "model.tie_embeddings": str(int(tied)),
        "model.relative_attention_num_buckets": str(NUM_BUCKETS),
        "model.relative_attention_max_distance": str(MAX_DISTANCE),
        "batch": str(B), "seed": str(SEED),
        "reference_dtype": "float64",
        "adam.lr": repr(ADAM["lr"]), "adam.beta1": repr(ADAM["betas"][0]),
        "adam.beta2": repr(ADAM["betas"][1]), "adam.eps": repr(ADAM["eps"]),
        "adam.weight_decay": repr(ADAM["weight_decay"]), "adam.steps": str(ADAM_STEPS),
        "adam_rms.lr": repr(ADAM_RMS["lr"]), "adam_rms.floor": repr(RMS_FLOOR),
        "loss": repr(loss.item()),
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), file)
    base.write_safetensors(out, tensors, metadata)
    print("wrote %s: loss %.6f, adam losses %s, rms %s" % (
        out, loss.item(), " ".join("%.6f" % x for x in losses),
        " ".join("%.6f" % x for x in rms_losses)))


def main():
    make_fixture("relu", True, "t5_relu_fixture.safetensors")
    make_fixture("gated-gelu", False, "t5_gated_fixture.safetensors")


if __name__ == "__main__":
    main()
