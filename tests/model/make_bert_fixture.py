#!/usr/bin/python3
"""Reference fixture for core/bert.c: a tiny BertForMaskedLM in plain PyTorch.

transformers is not installed beside Debian's torch, so the model is written
out following Hugging Face's modeling_bert.py exactly (BertEmbeddings,
BertSelfAttention, BertSelfOutput, BertIntermediate, BertOutput,
BertLMPredictionHead; hidden_act "gelu" = erf GELU, layer_norm_eps 1e-12,
token type 0 everywhere, no attention mask, decoder tied to the word
embeddings with its own bias), with HF's parameter names and nn.Linear
[out, in] shapes.

Writes tests/model/bert_tiny_fixture.safetensors holding

  <HF name>              F32  the parameters (seeded; LayerNorm weights and
                              biases perturbed away from 1 and 0)
  inputs, targets        I32  [B, T] one batch masked the MLM way: targets -1
                              except at the chosen positions, inputs there
                              mostly [MASK] = 259
  loss                   F32  [1] mean cross-entropy over the chosen positions
  grad.<HF name>         F32  d loss / d parameter
  adam_losses            F32  [10] the loss before each of 10 AdamW steps

Loss, gradients and the AdamW run are float64 from the float32 weights
(AdamW as in make_gpt_fixture.py: lr 1e-3, betas (0.9, 0.95), eps 1e-8,
weight decay 0.1 on 2-D tensors).

Run with Debian's torch:  /usr/bin/python3 tests/model/make_bert_fixture.py
"""
import math
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gpt_fixture_util as base  # noqa: E402  loss_and_grads, adamw_losses, writer

LAYERS, DIM, HEADS, VOCAB, CONTEXT, TYPES = 2, 64, 4, 260, 16, 2
B, T = 2, 16
SEED = 20240521
MASK = 259
EPS = 1e-12
ADAM = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
ADAM_STEPS = 10


def param_specs():
    """(name, shape, kind) in the unit/tensor order of core/bert.c."""
    C = DIM
    e = "bert.embeddings."
    specs = [(e + "word_embeddings.weight", (VOCAB, C), "normal"),
             (e + "position_embeddings.weight", (CONTEXT, C), "normal"),
             (e + "token_type_embeddings.weight", (TYPES, C), "normal"),
             (e + "LayerNorm.weight", (C,), "ln_weight"),
             (e + "LayerNorm.bias", (C,), "bias")]
    for l in range(LAYERS):
        p = "bert.encoder.layer.%d." % l
        specs += [
            (p + "attention.self.query.weight", (C, C), "normal"),
            (p + "attention.self.key.weight", (C, C), "normal"),
            (p + "attention.self.value.weight", (C, C), "normal"),
            (p + "attention.self.query.bias", (C,), "bias"),
            (p + "attention.self.key.bias", (C,), "bias"),
            (p + "attention.self.value.bias", (C,), "bias"),
            (p + "attention.output.dense.weight", (C, C), "normal"),
            (p + "attention.output.dense.bias", (C,), "bias"),
            (p + "attention.output.LayerNorm.weight", (C,), "ln_weight"),
            (p + "attention.output.LayerNorm.bias", (C,), "bias"),
            (p + "intermediate.dense.weight", (4 * C, C), "normal"),
            (p + "intermediate.dense.bias", (4 * C,), "bias"),
            (p + "output.dense.weight", (C, 4 * C), "normal"),
            (p + "output.dense.bias", (C,), "bias"),
            (p + "output.LayerNorm.weight", (C,), "ln_weight"),
            (p + "output.LayerNorm.bias", (C,), "bias"),
        ]
    h = "cls.predictions."
    specs += [(h + "transform.dense.weight", (C, C), "normal"),
              (h + "transform.dense.bias", (C,), "bias"),
              (h + "transform.LayerNorm.weight", (C,), "ln_weight"),
              (h + "transform.LayerNorm.bias", (C,), "bias"),
              (h + "bias", (VOCAB,), "bias")]
    return specs


def make_params(gen):
    params = {}
    for name, shape, kind in param_specs():
        z = torch.randn(shape, generator=gen, dtype=torch.float64)
        v = 1.0 + 0.1 * z if kind == "ln_weight" else 0.02 * z
        params[name] = v.to(torch.float32)
    return params


def make_batch(gen):
    """Random bytes; each position chosen with p 0.15 (80% [MASK], 10% random
    byte, 10% kept); targets the original byte there, -1 elsewhere."""
    tokens = torch.randint(0, 256, (B, T), generator=gen, dtype=torch.int64)
    chosen = torch.rand((B, T), generator=gen, dtype=torch.float64) < 0.15
    chosen[0, 3] = chosen[1, 7] = chosen[1, 15] = True  # never an empty batch
    u = torch.rand((B, T), generator=gen, dtype=torch.float64)
    rnd = torch.randint(0, 256, (B, T), generator=gen, dtype=torch.int64)
    inputs = tokens.clone()
    inputs[chosen & (u < 0.8)] = MASK
    sel = chosen & (u >= 0.8) & (u < 0.9)
    inputs[sel] = rnd[sel]
    targets = torch.where(chosen, tokens, torch.full_like(tokens, -1))
    return inputs, targets


def linear(x, p, name):
    return x @ p[name + ".weight"].t() + p[name + ".bias"]


def layer_norm(x, p, name):
    return F.layer_norm(x, (DIM,), p[name + ".weight"], p[name + ".bias"], EPS)


def bert_forward(p, inputs, targets):
    Bn, Tn = inputs.shape
    C, NH = DIM, HEADS
    hd = C // NH
    e = "bert.embeddings."
    x = (p[e + "word_embeddings.weight"][inputs] + p[e + "position_embeddings.weight"][:Tn] +
         p[e + "token_type_embeddings.weight"][0])
    x = layer_norm(x, p, e + "LayerNorm")
    for l in range(LAYERS):
        q_ = "bert.encoder.layer.%d." % l

        def heads(t):
            return t.view(Bn, Tn, NH, hd).transpose(1, 2)
        q = heads(linear(x, p, q_ + "attention.self.query"))
        k = heads(linear(x, p, q_ + "attention.self.key"))
        v = heads(linear(x, p, q_ + "attention.self.value"))
        att = F.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd), dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(Bn, Tn, C)
        a = layer_norm(linear(ctx, p, q_ + "attention.output.dense") + x, p,
                       q_ + "attention.output.LayerNorm")
        i = F.gelu(linear(a, p, q_ + "intermediate.dense"))
        x = layer_norm(linear(i, p, q_ + "output.dense") + a, p, q_ + "output.LayerNorm")
    h = "cls.predictions."
    t = layer_norm(F.gelu(linear(x, p, h + "transform.dense")), p, h + "transform.LayerNorm")
    logits = t @ p[e + "word_embeddings.weight"].t() + p[h + "bias"]
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-1)
    return logits, loss


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    params32 = make_params(gen)
    inputs, targets = make_batch(gen)
    loss, grads = base.loss_and_grads(bert_forward, params32, inputs, targets)
    losses = base.adamw_losses(bert_forward, params32, inputs, targets, ADAM, ADAM_STEPS)
    names = [n for n, _, _ in param_specs()]
    tensors = [(n, params32[n]) for n in names]
    tensors += [("inputs", inputs.to(torch.int32)), ("targets", targets.to(torch.int32))]
    tensors += [("loss", torch.tensor([loss.item()], dtype=torch.float32))]
    tensors += [("grad." + n, grads[n].to(torch.float32)) for n in names]
    tensors += [("adam_losses", torch.tensor(losses, dtype=torch.float32))]
    metadata = {
        "generator": "tests/model/make_bert_fixture.py", "torch": torch.__version__,
        "model.arch": "bert",
        "model.layers": str(LAYERS), "model.heads": str(HEADS), "model.dim": str(DIM),
        "model.context": str(CONTEXT), "model.vocab": str(VOCAB),
        "batch": str(B), "seq_len": str(T), "seed": str(SEED),
        "reference_dtype": "float64",
        "adam.lr": repr(ADAM["lr"]), "adam.beta1": repr(ADAM["betas"][0]),
        "adam.beta2": repr(ADAM["betas"][1]), "adam.eps": repr(ADAM["eps"]),
        "adam.weight_decay": repr(ADAM["weight_decay"]), "adam.steps": str(ADAM_STEPS),
        "loss": repr(loss.item()),
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "bert_tiny_fixture.safetensors")
    if len(sys.argv) > 1:
        out = sys.argv[1]
    base.write_safetensors(out, tensors, metadata)
    print("wrote %s: %d targets, loss %.6f, adam losses %s" % (
        out, int((targets >= 0).sum()), loss.item(), " ".join("%.6f" % x for x in losses)))


if __name__ == "__main__":
    main()
