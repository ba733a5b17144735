#!/usr/bin/env python3
"""hf_load.py — does an llmrt checkpoint load as Hugging Face would load it?

usage: hf_load.py LLMRT_BIN CHECKPOINT_DIR DATA_FILE

Rebuilds the model of CHECKPOINT_DIR in plain PyTorch from its config.json
alone, reading only transformers' field names with transformers' meanings
(GPT2Config, BertConfig, T5Config), loads model.safetensors strictly (every
tensor the config implies present with its shape, every tensor of the file
used), and compares it with llmrt itself (run as LLMRT_BIN):

  gpt   `llmrt generate --temperature 0`: the greedy continuation
  bert  `llmrt fill-mask`: the byte chosen for each [MASK]
  t5    `llmrt generate --temperature 0` on a sentinel prompt: greedy decoding
  all   `llmrt eval --batches 1` on DATA_FILE: the loss, to 5e-6 (batches whose
        construction is deterministic: every position a target for bert, one
        span per window for t5); then the same loss again on a copy whose
        weights are rescaled (SHARPEN) so that the epsilons, the GELU kind and
        the head count each change it

so a config.json field that describes another model (an epsilon, the
activation, the buckets, the head's tie, a size) fails. Where `transformers`
is importable the checkpoint is ALSO loaded with AutoModel*.from_pretrained
and its logits compared with the rebuild's; otherwise that is skipped (and
said). The safetensors and transformers packages are not needed: the file is
parsed here (8-byte header length, JSON header, raw data).

Exit status: 0 all agree, 1 a difference, 2 usage.
"""
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)

LOSS_TOL = 2e-6  # plus 1e-6 relative: llmrt prints 6 decimals; the two agree to ~5e-7
# relative (fp32 sums in another order)
TIE_TOL = 1e-4   # greedy steps whose two best logits are this close are ties

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I8": np.int8, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=ST_DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


class Weights:
    """Strict access: take() checks the shape; finish() fails on unused tensors."""

    def __init__(self, tensors):
        self.t = tensors
        self.used = set()

    def take(self, name, shape):
        if name not in self.t:
            raise SystemExit(f"FAIL: model.safetensors has no {name} (config.json implies it)")
        w = self.t[name]
        if list(w.shape) != list(shape):
            raise SystemExit(f"FAIL: {name} has shape {list(w.shape)}, config.json implies "
                             f"{list(shape)}")
        self.used.add(name)
        return w.float()

    def finish(self):
        extra = sorted(set(self.t) - self.used)
        # int8 QAT step sizes: transformers ignores them (an "unused weights"
        # warning) and computes with the unquantized weights.
        qat = [n for n in extra if n.endswith(".weight_scale")]
        extra = [n for n in extra if n not in qat]
        if extra:
            raise SystemExit(f"FAIL: model.safetensors has tensors config.json's model does "
                             f"not use: {extra[:5]}")
        if qat:
            print(f"note: {len(qat)} QAT step-size tensors ignored, as transformers does")


def act_fn(name):
    """transformers' ACT2FN for the names a config may carry."""
    table = {
        "gelu": lambda x: F.gelu(x),
        "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
        "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "relu": F.relu,
    }
    if name not in table:
        raise SystemExit(f"FAIL: activation {name!r}: not one this rebuild knows")
    return table[name]


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


# ---------------------------------------------------------------- GPT-2


class GPT2:
    def __init__(self, cfg, W):
        self.C, self.L, self.H = cfg["n_embd"], cfg["n_layer"], cfg["n_head"]
        self.V, self.P = cfg["vocab_size"], cfg["n_positions"]
        inner = cfg.get("n_inner") or 4 * self.C
        self.eps = cfg["layer_norm_epsilon"]
        self.act = act_fn(cfg["activation_function"])
        self.scale = cfg.get("scale_attn_weights", True)
        self.inv_layer = cfg.get("scale_attn_by_inverse_layer_idx", False)
        C = self.C
        self.wte = W.take("transformer.wte.weight", [self.V, C])
        self.wpe = W.take("transformer.wpe.weight", [self.P, C])
        self.blocks = []
        for i in range(self.L):
            p = f"transformer.h.{i}."
            shapes = {"ln_1.weight": [C], "ln_1.bias": [C], "attn.c_attn.weight": [C, 3 * C],
                      "attn.c_attn.bias": [3 * C], "attn.c_proj.weight": [C, C],
                      "attn.c_proj.bias": [C], "ln_2.weight": [C], "ln_2.bias": [C],
                      "mlp.c_fc.weight": [C, inner], "mlp.c_fc.bias": [inner],
                      "mlp.c_proj.weight": [inner, C], "mlp.c_proj.bias": [C]}
            self.blocks.append({k: W.take(p + k, s) for k, s in shapes.items()})
        self.lnf_w = W.take("transformer.ln_f.weight", [C])
        self.lnf_b = W.take("transformer.ln_f.bias", [C])
        tied = cfg.get("tie_word_embeddings", True)
        self.head = self.wte if tied else W.take("lm_head.weight", [self.V, C])

    def logits(self, ids):
        T, C, H = len(ids), self.C, self.H
        x = self.wte[torch.tensor(ids)] + self.wpe[:T]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for i, b in enumerate(self.blocks):
            h = layer_norm(x, b["ln_1.weight"], b["ln_1.bias"], self.eps)
            q, k, v = (h @ b["attn.c_attn.weight"] + b["attn.c_attn.bias"]).split(C, -1)
            q, k, v = (t.view(T, H, C // H).transpose(0, 1) for t in (q, k, v))
            s = q @ k.transpose(-1, -2)
            if self.scale:
                s = s / math.sqrt(C // H)
            if self.inv_layer:
                s = s / float(i + 1)
            a = s.masked_fill(~mask, float("-inf")).softmax(-1) @ v
            a = a.transpose(0, 1).reshape(T, C)
            x = x + a @ b["attn.c_proj.weight"] + b["attn.c_proj.bias"]
            h = layer_norm(x, b["ln_2.weight"], b["ln_2.bias"], self.eps)
            h = self.act(h @ b["mlp.c_fc.weight"] + b["mlp.c_fc.bias"])
            x = x + h @ b["mlp.c_proj.weight"] + b["mlp.c_proj.bias"]
        return layer_norm(x, self.lnf_w, self.lnf_b, self.eps) @ self.head.T


# ---------------------------------------------------------------- BERT


class Bert:
    def __init__(self, cfg, W):
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise SystemExit("FAIL: position_embedding_type is not absolute")
        C, V = cfg["hidden_size"], cfg["vocab_size"]
        self.C, self.H, self.V = C, cfg["num_attention_heads"], V
        inner = cfg["intermediate_size"]
        self.eps = cfg["layer_norm_eps"]
        self.act = act_fn(cfg["hidden_act"])
        e = "bert.embeddings."
        self.word = W.take(e + "word_embeddings.weight", [V, C])
        self.pos = W.take(e + "position_embeddings.weight", [cfg["max_position_embeddings"], C])
        self.type = W.take(e + "token_type_embeddings.weight", [cfg["type_vocab_size"], C])
        self.emb_ln = (W.take(e + "LayerNorm.weight", [C]), W.take(e + "LayerNorm.bias", [C]))
        self.layers = []
        for i in range(cfg["num_hidden_layers"]):
            p = f"bert.encoder.layer.{i}."
            shapes = {}
            for n in ("query", "key", "value"):
                shapes[f"attention.self.{n}.weight"] = [C, C]
                shapes[f"attention.self.{n}.bias"] = [C]
            shapes.update({"attention.output.dense.weight": [C, C],
                           "attention.output.dense.bias": [C],
                           "attention.output.LayerNorm.weight": [C],
                           "attention.output.LayerNorm.bias": [C],
                           "intermediate.dense.weight": [inner, C],
                           "intermediate.dense.bias": [inner],
                           "output.dense.weight": [C, inner], "output.dense.bias": [C],
                           "output.LayerNorm.weight": [C], "output.LayerNorm.bias": [C]})
            self.layers.append({k: W.take(p + k, s) for k, s in shapes.items()})
        c = "cls.predictions."
        self.tr_w = W.take(c + "transform.dense.weight", [C, C])
        self.tr_b = W.take(c + "transform.dense.bias", [C])
        self.tr_ln = (W.take(c + "transform.LayerNorm.weight", [C]),
                      W.take(c + "transform.LayerNorm.bias", [C]))
        self.bias = W.take(c + "bias", [V])
        tied = cfg.get("tie_word_embeddings", True)
        self.dec = self.word if tied else W.take(c + "decoder.weight", [V, C])

    def logits(self, ids):
        T, C, H = len(ids), self.C, self.H
        x = self.word[torch.tensor(ids)] + self.pos[:T] + self.type[0]
        x = layer_norm(x, *self.emb_ln, self.eps)
        lin = lambda h, b, n: h @ b[n + ".weight"].T + b[n + ".bias"]
        for b in self.layers:
            q, k, v = (lin(x, b, f"attention.self.{n}").view(T, H, C // H).transpose(0, 1)
                       for n in ("query", "key", "value"))
            a = ((q @ k.transpose(-1, -2)) / math.sqrt(C // H)).softmax(-1) @ v
            a = lin(a.transpose(0, 1).reshape(T, C), b, "attention.output.dense")
            x = layer_norm(x + a, b["attention.output.LayerNorm.weight"],
                           b["attention.output.LayerNorm.bias"], self.eps)
            h = lin(self.act(lin(x, b, "intermediate.dense")), b, "output.dense")
            x = layer_norm(x + h, b["output.LayerNorm.weight"], b["output.LayerNorm.bias"],
                           self.eps)
        h = layer_norm(self.act(x @ self.tr_w.T + self.tr_b), *self.tr_ln, self.eps)
        return h @ self.dec.T + self.bias


# ---------------------------------------------------------------- T5


def t5_bucket(rel, bidirectional, num_buckets, max_distance):
    """transformers' T5Attention._relative_position_bucket."""
    buckets = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0).long() * num_buckets
        rel = rel.abs()
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    small = rel < max_exact
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(small, rel, large)


class T5:
    def __init__(self, cfg, W):
        C, V = cfg["d_model"], cfg["vocab_size"]
        self.C, self.H, self.dkv = C, cfg["num_heads"], cfg["d_kv"]
        inner, F_ = self.H * self.dkv, cfg["d_ff"]
        self.nb = cfg["relative_attention_num_buckets"]
        self.md = cfg["relative_attention_max_distance"]
        self.eps = cfg["layer_norm_epsilon"]
        # As T5Config.__init__ derives them from feed_forward_proj.
        proj = cfg["feed_forward_proj"]
        parts = proj.split("-")
        self.gated = parts[0] == "gated"
        act = "gelu_new" if proj == "gated-gelu" else parts[-1]
        self.act = act_fn(act)
        self.tied = cfg.get("tie_word_embeddings", True)
        self.shared = W.take("shared.weight", [V, C])

        def attn(p):
            return {n: W.take(p + n + ".weight", [inner, C] if n != "o" else [C, inner])
                    for n in ("q", "k", "v", "o")}

        def ff(p):
            d = {"wo": W.take(p + "DenseReluDense.wo.weight", [C, F_]),
                 "ln": W.take(p + "layer_norm.weight", [C])}
            names = ("wi_0", "wi_1") if self.gated else ("wi",)
            for n in names:
                d[n] = W.take(p + f"DenseReluDense.{n}.weight", [F_, C])
            return d

        def stack(name, n_layers, decoder):
            blocks = []
            for i in range(n_layers):
                p = f"{name}.block.{i}.layer."
                b = {"sa": attn(p + "0.SelfAttention."), "sa_ln": W.take(p + "0.layer_norm.weight", [C])}
                if i == 0:
                    b["rel"] = W.take(p + "0.SelfAttention.relative_attention_bias.weight",
                                      [self.nb, self.H])
                if decoder:
                    b["ca"] = attn(p + "1.EncDecAttention.")
                    b["ca_ln"] = W.take(p + "1.layer_norm.weight", [C])
                b["ff"] = ff(p + ("2." if decoder else "1."))
                blocks.append(b)
            return blocks, W.take(f"{name}.final_layer_norm.weight", [C])

        self.enc, self.enc_ln = stack("encoder", cfg["num_layers"], False)
        n_dec = cfg.get("num_decoder_layers")
        self.dec, self.dec_ln = stack("decoder", cfg["num_layers"] if n_dec is None else n_dec,
                                      True)
        self.head = self.shared if self.tied else W.take("lm_head.weight", [V, C])

    def norm(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def mha(self, w, x, kv, bias):
        Tq, Tk, H, d = x.shape[0], kv.shape[0], self.H, self.dkv
        q = (x @ w["q"].T).view(Tq, H, d).transpose(0, 1)
        k = (kv @ w["k"].T).view(Tk, H, d).transpose(0, 1)
        v = (kv @ w["v"].T).view(Tk, H, d).transpose(0, 1)
        s = q @ k.transpose(-1, -2) + bias  # T5: no 1/sqrt(d)
        return (s.softmax(-1) @ v).transpose(0, 1).reshape(Tq, H * d) @ w["o"].T

    def ffn(self, f, x):
        h = self.norm(x, f["ln"])
        h = self.act(h @ f["wi_0"].T) * (h @ f["wi_1"].T) if self.gated else self.act(h @ f["wi"].T)
        return h @ f["wo"].T

    def bias(self, table, Tq, Tk, bidirectional):
        rel = torch.arange(Tk)[None, :] - torch.arange(Tq)[:, None]
        return table[t5_bucket(rel, bidirectional, self.nb, self.md)].permute(2, 0, 1)

    def logits(self, enc_ids, dec_ids):
        x = self.shared[torch.tensor(enc_ids)]
        Te, Td = len(enc_ids), len(dec_ids)
        eb = self.bias(self.enc[0]["rel"], Te, Te, True)
        for b in self.enc:
            x = x + self.mha(b["sa"], self.norm(x, b["sa_ln"]), self.norm(x, b["sa_ln"]), eb)
            x = x + self.ffn(b["ff"], x)
        enc = self.norm(x, self.enc_ln)
        y = self.shared[torch.tensor(dec_ids)]
        causal = torch.ones(Td, Td, dtype=torch.bool).tril()
        db = self.bias(self.dec[0]["rel"], Td, Td, False).masked_fill(~causal, float("-inf"))
        for b in self.dec:
            h = self.norm(y, b["sa_ln"])
            y = y + self.mha(b["sa"], h, h, db)
            y = y + self.mha(b["ca"], self.norm(y, b["ca_ln"]), enc, 0.0)
            y = y + self.ffn(b["ff"], y)
        y = self.norm(y, self.dec_ln)
        if self.tied:
            y = y * self.C ** -0.5
        return y @ self.head.T


# ---------------------------------------------------------------- comparisons

FAILS = []


def check(ok, what):
    print(("PASS: " if ok else "FAIL: ") + what)
    if not ok:
        FAILS.append(what)


def run(args):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.stdout.write(r.stdout.decode(errors="replace"))
        raise SystemExit(f"FAIL: {' '.join(args)} exited {r.returncode}")
    return r.stdout


def greedy_agrees(step_logits, tokens, label):
    """tokens: what llmrt chose, step by step; step_logits(i) the rebuild's
    logits for step i given tokens[:i]. llmrt's token must be the argmax, or
    within TIE_TOL of it (fp32 sums of two programs are not bit-equal)."""
    ties = 0
    for i, tok in enumerate(tokens):
        lg = step_logits(i)
        best = int(torch.argmax(lg))
        if tok != best:
            if float(lg[best] - lg[tok]) > TIE_TOL:
                check(False, f"{label}: step {i}: llmrt chose {tok}, the rebuild {best} "
                             f"(logits {float(lg[tok]):.5f} vs {float(lg[best]):.5f})")
                return
            ties += 1
    check(True, f"{label}: {len(tokens)} greedy tokens agree" + (f" ({ties} ties)" if ties else ""))


def eval_loss(bin_, ckpt, data, sets, key):
    out = run([bin_, "eval", "--checkpoint", ckpt, "--data", data, "--batches", "1"] + sets)
    m = re.search(rb"^" + key.encode() + rb" (\S+)$", out, re.M)
    if not m:
        raise SystemExit(f"FAIL: no '{key}' in llmrt eval's output:\n{out.decode()}")
    return float(m.group(1))


def loss_agrees(llmrt_loss, rebuild_loss, label):
    tol = LOSS_TOL + 1e-6 * abs(rebuild_loss)
    check(abs(llmrt_loss - rebuild_loss) <= tol,
          f"{label} eval loss: llmrt {llmrt_loss:.6f}, rebuild {rebuild_loss:.6f}")


B_EVAL = 2  # rows of the one evaluation batch (--set train.batch)


def test_gpt(bin_, ckpt, cfg, model, data):
    prompt, n = "the number 1", 12
    if len(prompt) + n > cfg["n_positions"]:
        raise SystemExit("FAIL: the test's prompt does not fit n_positions")
    out = run([bin_, "generate", "--checkpoint", ckpt, "--prompt", prompt, "--tokens", str(n),
               "--temperature", "0"])
    ids = list(prompt.encode())
    gen = list(out.rstrip(b"\n"))[len(ids):]
    check(len(gen) == n and bytes(out[:len(ids)]) == prompt.encode(),
          f"llmrt generate printed the prompt and {n} bytes: {out!r}")
    greedy_agrees(lambda i: model.logits(ids + gen[:i])[-1], gen, "gpt generate")
    loss_gpt(bin_, ckpt, cfg, model, data, "gpt")
    return {"input_ids": ids}, model.logits(ids)


def loss_gpt(bin_, ckpt, cfg, model, data, label):
    T = cfg["n_positions"]
    toks = list(open(data, "rb").read()[: B_EVAL * T + 1])
    x = torch.tensor(toks[:-1]).view(B_EVAL, T)
    y = torch.tensor(toks[1:]).view(B_EVAL, T)
    loss = torch.stack([F.cross_entropy(model.logits(x[b].tolist()), y[b]) for b in range(B_EVAL)]).mean()
    ll = eval_loss(bin_, ckpt, data, ["--set", f"train.batch={B_EVAL}"], "loss")
    loss_agrees(ll, float(loss), label)


def test_bert(bin_, ckpt, cfg, model, data):
    mask_id = cfg["llmrt_mask_token_id"]
    prompt = "the number 12 is [MASK]ven and l[MASK]rger than [MASK]4."
    ids = []
    for piece in re.split(r"(\[MASK\])", prompt):
        ids += [mask_id] if piece == "[MASK]" else list(piece.encode())
    out = run([bin_, "fill-mask", "--checkpoint", ckpt, "--prompt", prompt])
    got = {int(p): int(b) for p, b in re.findall(rb"^mask at (\d+): byte (\d+)", out, re.M)}
    masks = [i for i, t in enumerate(ids) if t == mask_id]
    check(sorted(got) == masks, f"llmrt fill-mask filled positions {sorted(got)} = {masks}")
    lg = model.logits(ids)
    # llmrt fills with the most likely byte (specials are not text).
    greedy_agrees(lambda i: lg[masks[i], :256], [got.get(p, -1) for p in masks], "bert fill-mask")
    loss_bert(bin_, ckpt, cfg, model, data, "bert")
    return {"input_ids": ids}, lg


def loss_bert(bin_, ckpt, cfg, model, data, label):
    # Every byte position a target, none replaced: deterministic masking.
    T = cfg["max_position_embeddings"]
    toks = torch.tensor(list(open(data, "rb").read()[: B_EVAL * T])).view(B_EVAL, T)
    loss = torch.stack([F.cross_entropy(model.logits(toks[b].tolist()), toks[b]) for b in range(B_EVAL)]).mean()
    ll = eval_loss(bin_, ckpt, data, ["--set", f"train.batch={B_EVAL}", "--set", "model.mask_prob=1",
                                      "--set", "model.mask_token_frac=0", "--set",
                                      "model.random_token_frac=0"], "mlm_loss")
    loss_agrees(ll, float(loss), label)


def t5_piece(t, cfg):
    s0 = cfg["llmrt_sentinel0_token_id"]
    if t < 256:
        return bytes([t])
    if t == cfg["pad_token_id"]:
        return b"<pad>"
    if t == cfg["eos_token_id"]:
        return b"</s>"
    return b"<extra_id_%d>" % (t - s0) if s0 <= t < cfg["vocab_size"] else b"<%d>" % t


def span_lengths(n, density, mean_len):
    """core/span.c: noise and spans of n tokens (round half to even, as Python)."""
    noise = min(max(round(n * density), 1), n - 1)
    spans = min(max(round(noise / mean_len), 1), noise, n - noise)
    return noise, spans


def test_t5(bin_, ckpt, cfg, model, data):
    s0, eos = cfg["llmrt_sentinel0_token_id"], cfg["eos_token_id"]
    prompt, n = "the number 12 is <extra_id_0> and <extra_id_1> 84.", 20
    enc = []
    for piece in re.split(r"(<extra_id_\d+>)", prompt):
        m = re.fullmatch(r"<extra_id_(\d+)>", piece)
        enc += [s0 + int(m.group(1))] if m else list(piece.encode())
    enc.append(eos)
    out = run([bin_, "generate", "--checkpoint", ckpt, "--prompt", prompt, "--tokens", str(n),
               "--temperature", "0"])
    m = re.search(rb"^target: (.*)$", out, re.M)
    if not m:
        raise SystemExit(f"FAIL: no target line in llmrt generate's output:\n{out.decode()}")
    target = m.group(1)
    # llmrt's tokens back from their pieces.
    gen = []
    for tok in re.findall(rb"<extra_id_\d+>|</s>|<pad>|.", target, re.S):
        if tok == b"</s>":
            gen.append(eos)
        elif tok == b"<pad>":
            gen.append(cfg["pad_token_id"])
        elif tok.startswith(b"<extra_id_"):
            gen.append(s0 + int(tok[10:-1]))
        else:
            gen.append(tok[0])
    start = cfg["decoder_start_token_id"]
    greedy_agrees(lambda i: model.logits(enc, [start] + gen[:i])[-1], gen, "t5 generate")
    # Greedy decoding stops after EOS, or after a sentinel past the input's
    # last (every span is filled): only the last token may be one.
    last_in = max(t for t in enc if s0 <= t < cfg["vocab_size"])
    stops = [i for i, t in enumerate(gen) if t == eos or (s0 <= t < cfg["vocab_size"] and t > last_in)]
    check(0 < len(gen) <= n and stops in ([], [len(gen) - 1]),
          f"t5 generate stopped where the rebuild would: {b''.join(t5_piece(t, cfg) for t in gen)!r}")
    loss_t5(bin_, ckpt, cfg, model, data, "t5")
    return {"input_ids": enc, "decoder_input_ids": [start] + gen}, model.logits(enc, [start] + gen)


def loss_t5(bin_, ckpt, cfg, model, data, label):
    s0, eos = cfg["llmrt_sentinel0_token_id"], cfg["eos_token_id"]
    start = cfg["decoder_start_token_id"]
    # One span per window: the corruption does not depend on llmrt's RNG.
    density, mean_len, context = 0.15, 1000.0, cfg["n_positions"]
    w = 2
    while True:
        noise, spans = span_lengths(w + 1, density, mean_len)
        if (w + 1) - noise + spans + 1 > context:
            break
        w += 1
    noise, spans = span_lengths(w, density, mean_len)
    assert spans == 1
    toks = list(open(data, "rb").read()[: B_EVAL * w])
    losses = []
    for b in range(B_EVAL):
        row = toks[b * w:(b + 1) * w]
        kept, span = row[: w - noise], row[w - noise:]
        x = kept + [s0, eos]
        y = [s0] + span + [eos]
        lg = model.logits(x, [start] + y[:-1])
        losses.append(F.cross_entropy(lg, torch.tensor(y)))
    loss = torch.stack(losses).mean()
    ll = eval_loss(bin_, ckpt, data, ["--set", f"train.batch={B_EVAL}", "--set",
                                      f"model.noise_density={density}", "--set",
                                      f"model.mean_span_length={mean_len}"], "loss")
    loss_agrees(ll, float(loss), label)


BUILDERS = {"gpt2": (GPT2, test_gpt, loss_gpt, "AutoModelForCausalLM"),
            "bert": (Bert, test_bert, loss_bert, "AutoModelForMaskedLM"),
            "t5": (T5, test_t5, loss_t5, "AutoModelForSeq2SeqLM")}


# ---------------------------------------------------------------- sharpened weights

# After a few steps of training a model hardly depends on some fields: the
# attention is near uniform (so the head count barely matters), the MLP's
# pre-activations are small (erf and tanh GELU agree to 1e-6 there), and
# the norms' inputs are far larger than their epsilon. A second comparison
# therefore runs on a copy whose weights are rescaled so that each of them
# matters: tiny embeddings put the first norm's mean square below its
# epsilon (the head's last norm is scaled up by as much, so tied logits keep
# their size), larger query/key weights sharpen the attention per head, and
# larger MLP input weights push the pre-activations to where the GELUs
# differ. Factors: (name pattern, factor), applied in order, first match.
SHARPEN = {
    "gpt2": [(r"transformer\.w[tp]e\.weight$", 1e-3), (r"transformer\.ln_f\.", 3e4),
             (r"attn\.c_attn\.", 12.0), (r"mlp\.c_fc\.", 8.0), (r"mlp\.c_proj\.", 4.0)],
    "bert": [(r"bert\.embeddings\.\w+_embeddings\.", 1e-5),
             (r"cls\.predictions\.transform\.LayerNorm\.", 3e6),
             (r"attention\.self\.(query|key)\.", 12.0), (r"intermediate\.dense\.", 8.0),
             (r"\.output\.dense\.", 4.0)],
    "t5": [(r"^shared\.weight$", 1e-4), (r"SelfAttention\.[qk]\.weight$", 4.0),
           (r"EncDecAttention\.[qk]\.weight$", 4.0), (r"DenseReluDense\.wi(_0)?\.", 8.0)],
}


def write_safetensors(path, tensors, meta):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        b = t.numpy().astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def sharpened_copy(ckpt, cfg, tensors, meta, out_dir):
    """out_dir: the checkpoint with SHARPEN's factors applied (same files)."""
    rules = SHARPEN[cfg["model_type"]]
    if cfg["model_type"] == "t5" and cfg.get("tie_word_embeddings", True):
        rules = rules + [(r"^decoder\.final_layer_norm\.", 1e4)]  # keeps tied logits' size
    shutil.copytree(ckpt, out_dir)
    out = {}
    for name, t in tensors.items():
        f = next((f for pat, f in rules if re.search(pat, name)), 1.0)
        out[name] = t * f if t.dtype == torch.float32 else t
    write_safetensors(os.path.join(out_dir, "model.safetensors"), out, meta)
    return out


def with_transformers(ckpt, auto_name, inputs, ref):
    """The same checkpoint through transformers itself, where it is installed."""
    try:
        import transformers
    except ImportError:
        print("note: transformers is not importable here: checked the plain-PyTorch rebuild "
              "from config.json only (not AutoModel.from_pretrained)")
        return
    hf = getattr(transformers, auto_name).from_pretrained(ckpt).eval()
    got = hf(**{k: torch.tensor([v]) for k, v in inputs.items()}).logits[0]
    check(torch.allclose(got, ref, atol=1e-4, rtol=1e-4),
          f"transformers {transformers.__version__} {auto_name}.from_pretrained: logits = the "
          f"rebuild's (max diff {float((got - ref).abs().max()):.2e})")


def main():
    if len(sys.argv) != 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    bin_, ckpt, data = sys.argv[1:]
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("torch_dtype") != "float32":
        check(False, f"torch_dtype {cfg.get('torch_dtype')!r}: model.safetensors is F32")
    kind = cfg["model_type"]
    cls, test, loss, auto_name = BUILDERS[kind]
    tensors, meta = read_safetensors(os.path.join(ckpt, "model.safetensors"))
    W = Weights(tensors)
    model = cls(cfg, W)
    W.finish()
    check(all(t.dtype == torch.float32 for t in tensors.values()), "model.safetensors is F32")
    print(f"{kind} ({cfg['architectures'][0]}): rebuilt in plain PyTorch from config.json, "
          f"{len(W.used)} tensors")
    # The test's prompt and the rebuild's logits for it, for transformers.
    inputs, ref = test(bin_, ckpt, cfg, model, data)
    with_transformers(ckpt, auto_name, inputs, ref)
    with tempfile.TemporaryDirectory() as tmp:
        sharp_dir = os.path.join(tmp, "sharpened")
        W = Weights(sharpened_copy(ckpt, cfg, tensors, meta, sharp_dir))
        loss(bin_, sharp_dir, cfg, cls(cfg, W), data, f"{kind} (sharpened weights)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
