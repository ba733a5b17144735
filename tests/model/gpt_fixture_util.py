"""What make_gpt_fixture.py and make_qat_fixture.py share: the tiny GPT-2 in
plain PyTorch (its parameters, their seeded initialisation, the forward whose
math is exactly core/gpt.c's), the fixed batch, the float64 loss, gradients
and AdamW trajectory of a forward, and the safetensors writer (by hand:
8-byte little-endian header length, JSON header, raw little-endian data).

Not a script: run make_gpt_fixture.py or make_qat_fixture.py.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

LAYERS, DIM, HEADS, VOCAB, CONTEXT = 2, 64, 4, 256, 16
B, T = 2, 16
SEED = 20240520


def param_specs():
    """(name, shape, kind) in the unit/tensor order of core/gpt.c."""
    C = DIM
    specs = [("transformer.wte.weight", (VOCAB, C), "normal"),
             ("transformer.wpe.weight", (CONTEXT, C), "normal")]
    for l in range(LAYERS):
        p = "transformer.h.%d." % l
        specs += [
            (p + "ln_1.weight", (C,), "ln_weight"),
            (p + "ln_1.bias", (C,), "bias"),
            (p + "attn.c_attn.weight", (C, 3 * C), "normal"),
            (p + "attn.c_attn.bias", (3 * C,), "bias"),
            (p + "attn.c_proj.weight", (C, C), "residual"),
            (p + "attn.c_proj.bias", (C,), "bias"),
            (p + "ln_2.weight", (C,), "ln_weight"),
            (p + "ln_2.bias", (C,), "bias"),
            (p + "mlp.c_fc.weight", (C, 4 * C), "normal"),
            (p + "mlp.c_fc.bias", (4 * C,), "bias"),
            (p + "mlp.c_proj.weight", (4 * C, C), "residual"),
            (p + "mlp.c_proj.bias", (C,), "bias"),
        ]
    specs += [("transformer.ln_f.weight", (C,), "ln_weight"),
              ("transformer.ln_f.bias", (C,), "bias")]
    return specs


def make_params(gen):
    """GPT-2 init for the matrices; LayerNorm and biases are perturbed away
    from 1 and 0 so that their gradients (and any mix-up of them) show."""
    params = {}
    for name, shape, kind in param_specs():
        z = torch.randn(shape, generator=gen, dtype=torch.float64)
        if kind == "normal":
            v = 0.02 * z
        elif kind == "residual":
            v = 0.02 / math.sqrt(2 * LAYERS) * z
        elif kind == "ln_weight":
            v = 1.0 + 0.1 * z
        else:
            v = 0.02 * z
        params[name] = v.to(torch.float32)
    return params


def make_params_and_batch():
    """The float32 parameters (seed SEED) and, from the same generator, one
    batch of inputs and targets [B, T] (targets[1, T-1] = -1: an ignored
    position). Sets torch to one thread."""
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    params32 = make_params(gen)
    seq = torch.randint(0, VOCAB, (B, T + 1), generator=gen, dtype=torch.int64)
    inputs, targets = seq[:, :-1].clone(), seq[:, 1:].clone()
    targets[1, T - 1] = -1
    return params32, inputs, targets


def gpt_forward(p, inputs, targets):
    Bn, Tn = inputs.shape
    C, NH = DIM, HEADS
    hd = C // NH
    x = p["transformer.wte.weight"][inputs] + p["transformer.wpe.weight"][:Tn]
    mask = torch.triu(torch.ones(Tn, Tn, dtype=torch.bool), diagonal=1)
    for l in range(LAYERS):
        q_ = "transformer.h.%d." % l
        h = F.layer_norm(x, (C,), p[q_ + "ln_1.weight"], p[q_ + "ln_1.bias"], 1e-5)
        qkv = h @ p[q_ + "attn.c_attn.weight"] + p[q_ + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=2)
        q = q.view(Bn, Tn, NH, hd).transpose(1, 2)
        k = k.view(Bn, Tn, NH, hd).transpose(1, 2)
        v = v.view(Bn, Tn, NH, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = att.masked_fill(mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(Bn, Tn, C)
        x = x + y @ p[q_ + "attn.c_proj.weight"] + p[q_ + "attn.c_proj.bias"]
        h = F.layer_norm(x, (C,), p[q_ + "ln_2.weight"], p[q_ + "ln_2.bias"], 1e-5)
        h = F.gelu(h @ p[q_ + "mlp.c_fc.weight"] + p[q_ + "mlp.c_fc.bias"], approximate="tanh")
        x = x + h @ p[q_ + "mlp.c_proj.weight"] + p[q_ + "mlp.c_proj.bias"]
    x = F.layer_norm(x, (C,), p["transformer.ln_f.weight"], p["transformer.ln_f.bias"], 1e-5)
    logits = x @ p["transformer.wte.weight"].t()
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-1)
    return logits, loss


def loss_and_grads(forward, params32, inputs, targets):
    """forward(params, inputs, targets) -> (logits, loss) in float64 from the
    float32 parameters: the loss tensor and {name: d loss / d parameter}."""
    p64 = {n: v.to(torch.float64).requires_grad_(True) for n, v in params32.items()}
    _, loss = forward(p64, inputs, targets)
    loss.backward()
    return loss, {n: v.grad.detach().clone() for n, v in p64.items()}


def adamw_losses(forward, params32, inputs, targets, adam, steps, after_step=None,
                 rms_floor=None):
    """torch.optim.AdamW in float64 from the float32 parameters, the same
    batch every step, weight decay adam["weight_decay"] on 2-D tensors and 0
    on the others: the loss before each of `steps` steps. after_step(params)
    runs after each step.

    rms_floor: [train] lr_scale = rms (core/lr_scale.h): one group per tensor
    whose lr, before each step, is adam["lr"] * max(rms_floor, RMS of the
    tensor) (Adafactor's relative step; AdamW's decoupled decay, which
    multiplies the group's lr, scales with it)."""
    q64 = {n: v.to(torch.float64).requires_grad_(True) for n, v in params32.items()}
    if rms_floor is None:
        decay = [v for n, v in q64.items() if v.dim() == 2]
        no_decay = [v for n, v in q64.items() if v.dim() != 2]
        groups = [{"params": decay, "weight_decay": adam["weight_decay"]},
                  {"params": no_decay, "weight_decay": 0.0}]
    else:
        groups = [{"params": [v], "weight_decay": adam["weight_decay"] if v.dim() == 2 else 0.0}
                  for v in q64.values()]
    opt = torch.optim.AdamW(groups, lr=adam["lr"], betas=adam["betas"], eps=adam["eps"])
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        _, l = forward(q64, inputs, targets)
        l.backward()
        losses.append(l.item())
        if rms_floor is not None:
            with torch.no_grad():
                for g in opt.param_groups:
                    rms = g["params"][0].pow(2).mean().sqrt().item()
                    g["lr"] = adam["lr"] * max(rms_floor, rms)
        opt.step()
        if after_step:
            after_step(q64)
    return losses


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, torch tensor) in file order."""
    dtypes = {torch.float32: "F32", torch.int32: "I32"}
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        t = t.contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def write_fixture(file, script, names, params32, inputs, targets, loss, grads, losses, adam,
                  extra_metadata, reference_dtype):
    """Write the fixture: the parameters `names` (in that order), inputs,
    targets, loss, grad.<name>, adam_losses, with the metadata of the model,
    the batch and the AdamW run (extra_metadata after the batch's). The path
    is tests/model/<file>, or the command line's first argument; returned."""
    tensors = [(n, params32[n]) for n in names]
    tensors += [("inputs", inputs.to(torch.int32)), ("targets", targets.to(torch.int32))]
    tensors += [("loss", torch.tensor([loss.item()], dtype=torch.float32))]
    tensors += [("grad." + n, grads[n].to(torch.float32)) for n in names]
    tensors += [("adam_losses", torch.tensor(losses, dtype=torch.float32))]
    metadata = {
        "generator": "tests/model/" + script,
        "torch": torch.__version__,
        "model.layers": str(LAYERS), "model.heads": str(HEADS), "model.dim": str(DIM),
        "model.context": str(CONTEXT), "model.vocab": str(VOCAB),
        "batch": str(B), "seq_len": str(T), "seed": str(SEED),
    }
    metadata.update(extra_metadata)
    metadata.update({
        "reference_dtype": reference_dtype,
        "adam.lr": repr(adam["lr"]), "adam.beta1": repr(adam["betas"][0]),
        "adam.beta2": repr(adam["betas"][1]), "adam.eps": repr(adam["eps"]),
        "adam.weight_decay": repr(adam["weight_decay"]), "adam.steps": str(len(losses)),
        "loss": repr(loss.item()),
    })
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), file)
    if len(sys.argv) > 1:
        out = sys.argv[1]
    write_safetensors(out, tensors, metadata)
    return out
