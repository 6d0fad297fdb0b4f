"""A small GPT (decoder-only transformer) in the style of karpathy/nanoGPT's model.py.

Pre-LayerNorm blocks of causal multi-head self-attention and a 4×-wide GELU MLP, learned position
embeddings, the output layer tied to the token embedding (Radford et al. 2019, GPT-2; Press &
Wolf 2017). Attention keeps a key/value cache so that sampling feeds one token per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Cache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys and values (B, heads, T, head width)


@dataclass(frozen=True)
class GPTConfig:
    vocab: int
    context: int = 80  # the longest sequence the model reads
    layers: int = 1
    heads: int = 4
    width: int = 128


class SelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.width)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None):
        B, T, C = x.shape
        if past is not None and T != 1:
            raise ValueError("with a key/value cache, feed one token per step")
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        # With a cache the new queries come after every cached key, so no mask is needed (one new
        # token per step); without one, the usual causal mask.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=past is None)
        return self.proj(y.transpose(1, 2).reshape(B, T, C)), (k, v)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.width), nn.LayerNorm(cfg.width)
        self.attn = SelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.width, 4 * cfg.width), nn.GELU(), nn.Linear(4 * cfg.width, cfg.width))

    def forward(self, x, past):
        a, present = self.attn(self.ln1(x), past)
        x = x + a
        return x + self.mlp(self.ln2(x)), present


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.width)
        self.pos = nn.Embedding(cfg.context, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.width)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor, past: Cache | None = None) -> tuple[torch.Tensor, Cache]:
        """Logits (B, T, vocab) of the token after each position of idx (B, T), and the new cache."""
        start = 0 if past is None else past[0][0].shape[2]
        x = self.tok(idx) + self.pos(torch.arange(start, start + idx.shape[1], device=idx.device))
        present = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past is None else past[i])
            present.append(kv)
        return self.ln(x) @ self.tok.weight.T, present


def token_nll(model: GPT, rows: torch.Tensor, bos: int) -> torch.Tensor:
    """−log q of every token of `rows` (B, L) given the tokens before it, the sequence starting after
    `bos`; 0 at padding (ids < 0). Trailing columns that are padding in every row are not computed."""
    length = int((rows >= 0).sum(dim=1).max())
    rows = rows[:, :length]
    inputs = torch.cat([torch.full_like(rows[:, :1], bos), rows[:, :-1].clamp(min=0)], dim=1)
    logits, _ = model(inputs)
    nll = F.cross_entropy(logits.transpose(1, 2), rows.clamp(min=0), reduction="none")
    return nll * (rows >= 0)


@torch.no_grad()
def generate(model: GPT, n: int, length: int, temperature: float, eos: int) -> torch.Tensor:
    """n sequences of at most `length` tokens (B, length) sampled from softmax(logits / temperature),
    each started after `eos` and stopped at its first `eos`; −1 after it."""
    device = model.tok.weight.device
    out = torch.full((n, length), -1, dtype=torch.long, device=device)
    token = torch.full((n, 1), eos, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    past = None
    for t in range(length):
        logits, past = model(token, past)
        token = torch.multinomial(F.softmax(logits[:, -1] / temperature, dim=-1), 1)
        out[:, t] = torch.where(done, -1, token[:, 0])
        done |= token[:, 0] == eos
        if bool(done.all()):
            break
    return out
