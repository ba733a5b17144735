#!/usr/bin/env python3
"""The PyTorch reference of bench/gpu_gpt2.sh: GPT-2 in plain torch (no
transformers), trained the way llmrt trains it, timed the same way.

Model: GPT-2 layout (pre-LayerNorm blocks, tanh GELU, tied head), the token
embedding padded to a multiple of 128 rows as llm.c and nanoGPT do. Step:
bf16 autocast (fp32 master weights), F.scaled_dot_product_attention with
is_causal=True, cross-entropy, backward, global-norm clipping at 1.0, AdamW
(fused where this torch has it), optionally torch.compile (--compile).
Data: random token ids below --max-id (default 256, what llmrt's byte
tokenizer feeds it; the work per token does not depend on the ids).

FLOPs per token: 6N + 12 L T d (PaLM, appendix B; the formula llmrt uses),
N the parameter count with the unpadded vocabulary, so that llmrt and this
script divide the same work. MFU = tokens/s x FLOPs per token / peak.

Prints one line:
  torch NAME device=... tokens_per_s=X mfu=Y step_ms=Z peak_mem_bytes=M
        params=N flops_per_token=F peak_tflops=P version=V attention=...
        adamw=... compile=0|1 dtype=bf16
"""
import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(dim)
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.mlp_proj = nn.Linear(4 * dim, dim)

    def attention(self, q, k, v):
        if HAVE_SDPA:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        # torch < 2.0 (the CPU check on the build machine): the same
        # operation written out, causal mask and softmax.
        T = q.shape[-2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        return att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v

    def forward(self, x):
        B, T, C = x.shape
        hd = C // self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, self.heads, hd).transpose(1, 2)
        k = k.view(B, T, self.heads, hd).transpose(1, 2)
        v = v.view(B, T, self.heads, hd).transpose(1, 2)
        y = self.attention(q, k, v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, layers, heads, dim, context, padded_vocab):
        super().__init__()
        self.wte = nn.Embedding(padded_vocab, dim)
        self.wpe = nn.Embedding(context, dim)
        self.h = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied head, over the padded vocab
        return F.cross_entropy(logits.view(B * T, -1).float(), targets.reshape(-1))


def n_params(layers, dim, context, vocab):
    """GPT-2's parameter count with the unpadded vocabulary (llmrt's N)."""
    block = 12 * dim * dim + 13 * dim
    return vocab * dim + context * dim + layers * block + 2 * dim


def make_adamw(model, device, lr):
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() != 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}]
    if device.type == "cuda":
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=True), "fused"
        except (TypeError, RuntimeError) as e:  # a torch without fused AdamW
            print(f"torch: no fused AdamW here ({e}); using the default", file=sys.stderr)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8), "default"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default="gpt2-124m")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--context", type=int, default=1024, help="T, the sequence length")
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--pad-vocab", type=int, default=128,
                    help="embedding rows padded to a multiple of this")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--max-id", type=int, default=256, help="token ids drawn below this")
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="dense bf16 peak for MFU (H100 SXM: 989)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=1337)
    a = ap.parse_args()

    if a.dim % a.heads:
        ap.error(f"--dim {a.dim} is not a multiple of --heads {a.heads}")
    if a.steps < 1 or a.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"torch: SKIP: --device cuda but torch {torch.__version__} sees no GPU",
              file=sys.stderr)
        return 77
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 leftovers (outside autocast)
        torch.backends.cudnn.allow_tf32 = True

    padded = (a.vocab + a.pad_vocab - 1) // a.pad_vocab * a.pad_vocab
    model = GPT(a.layers, a.heads, a.dim, a.context, padded).to(device)
    opt, adamw_kind = make_adamw(model, device, 6e-4)
    step_model = model
    if a.compile:
        if not hasattr(torch, "compile"):
            print(f"torch: --compile needs torch >= 2.0 (this is {torch.__version__})",
                  file=sys.stderr)
            return 2
        step_model = torch.compile(model)

    n = n_params(a.layers, a.dim, a.context, a.vocab)
    flops_per_token = 6 * n + 12 * a.layers * a.context * a.dim
    tokens_per_step = a.batch * a.context
    max_id = min(a.max_id, a.vocab)
    g = torch.Generator().manual_seed(a.seed)
    batches = [torch.randint(0, max_id, (a.batch, a.context + 1), generator=g) for _ in range(4)]
    batches = [b.to(device) for b in batches]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step(i):
        b = batches[i % len(batches)]
        x, y = b[:, :-1], b[:, 1:]
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            loss = step_model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    loss = None
    for i in range(a.warmup):
        loss = step(i)
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for i in range(a.steps):
        loss = step(a.warmup + i)
    final_loss = float(loss)  # synchronises
    sync()
    dt = time.perf_counter() - t0
    if not math.isfinite(final_loss):
        print(f"torch: the loss is {final_loss}: the run diverged", file=sys.stderr)
        return 1

    tps = tokens_per_step * a.steps / dt
    mfu = tps * flops_per_token / (a.peak_tflops * 1e12)
    peak_mem = torch.cuda.max_memory_allocated() if device.type == "cuda" else 0
    dev_name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"torch {a.name} device={dev_name.replace(' ', '_')} tokens_per_s={tps:.1f} "
          f"mfu={mfu:.4f} step_ms={1000 * dt / a.steps:.2f} peak_mem_bytes={peak_mem} "
          f"params={n} flops_per_token={flops_per_token} peak_tflops={a.peak_tflops:g} "
          f"loss={final_loss:.4f} version={torch.__version__} "
          f"attention={'sdpa' if HAVE_SDPA else 'manual'} adamw={adamw_kind} "
          f"compile={int(a.compile)} dtype=bf16 batch={a.batch} T={a.context}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
