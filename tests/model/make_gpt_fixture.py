#!/usr/bin/python3
"""Reference fixture for core/gpt.c: a tiny GPT-2 in plain PyTorch.

Writes tests/model/gpt_tiny_fixture.safetensors (the format is written by
hand: 8-byte little-endian header length, JSON header, raw little-endian data)
holding

  <HF GPT-2 name>        F32  the parameters (seeded: gpt_fixture_util.make_params)
  inputs, targets        I32  [B, T] one fixed batch (targets[1, T-1] = -1:
                              an ignored position)
  loss                   F32  [1] mean cross-entropy over positions with a target
  grad.<HF name>         F32  d loss / d parameter
  adam_losses            F32  [10] the loss before each of 10 AdamW steps on the
                              same batch (adam_losses[0] == loss)

The model math is exactly core/gpt.c's: token + learned position embeddings,
pre-LayerNorm blocks (eps 1e-5), causal softmax attention with a -inf mask and
scale 1/sqrt(head_dim), GELU with the tanh approximation, final LayerNorm, LM
head tied to wte. Weights are stored as float32; the loss, the gradients and
the AdamW trajectory are computed in float64 from exactly those float32
values, then rounded to float32 for storage (a rounding of 6e-8 relative,
far below the tests' tolerances).

AdamW: torch.optim.AdamW, lr 1e-3, betas (0.9, 0.95), eps 1e-8, weight decay
0.1 on 2-D tensors (wte, wpe and every .weight matrix) and 0 on biases and
LayerNorm parameters, no clipping, float64.

Run with Debian's torch:  /usr/bin/python3 tests/model/make_gpt_fixture.py
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the fixtures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt_fixture_util as base  # noqa: E402  the model, batch, runs and writer

ADAM = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
ADAM_STEPS = 10


def main():
    params32, inputs, targets = base.make_params_and_batch()
    # Loss and gradients in float64 from the float32 weights.
    loss, grads = base.loss_and_grads(base.gpt_forward, params32, inputs, targets)
    # AdamW trajectory, float64, same batch every step.
    adam_losses = base.adamw_losses(base.gpt_forward, params32, inputs, targets, ADAM,
                                    ADAM_STEPS)
    names = [n for n, _, _ in base.param_specs()]
    out = base.write_fixture("gpt_tiny_fixture.safetensors", "make_gpt_fixture.py", names,
                             params32, inputs, targets, loss, grads, adam_losses, ADAM, {},
                             "float64")
    print("wrote %s: loss %.6f, adam losses %s" % (out, loss.item(),
          " ".join("%.6f" % x for x in adam_losses)))


if __name__ == "__main__":
    main()
