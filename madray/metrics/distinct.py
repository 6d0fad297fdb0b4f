"""distinct-n: the diversity of generated text (Li et al. 2016, "A Diversity-Promoting Objective
Function for Neural Conversation Models", NAACL; their Tables 2 and 3).

Li et al. report "the number of distinct unigrams and bigrams in generated responses", "scaled by
total number of generated tokens to avoid favoring long sentences" (distinct-1, distinct-2).
madray follows that definition on token-id rows: n-grams are counted within each sample (never
across two), end tokens and padding are not tokens, and the count of distinct n-grams over all
samples is divided by the number of tokens. The value depends on how many tokens are generated,
so compare models at the same number of samples (`n_eval`).
"""

from __future__ import annotations

import numpy as np


def story_tokens(rows: np.ndarray, eos: int) -> np.ndarray:
    """Boolean mask of the story tokens of rows (N, L): before each row's end token, not padding."""
    rows = np.asarray(rows)
    ended = np.cumsum((rows == eos) | (rows < 0), axis=1) > 0
    return ~ended


def distinct_n(rows: np.ndarray, n: int, eos: int) -> float:
    """Distinct n-grams / tokens of the samples rows (N, L) of token ids (end token, then −1 padding)."""
    rows = np.asarray(rows)
    mask = story_tokens(rows, eos)
    tokens = int(mask.sum())
    if tokens == 0 or rows.shape[1] < n:
        return 0.0
    grams = np.lib.stride_tricks.sliding_window_view(rows, n, axis=1)
    whole = np.lib.stride_tricks.sliding_window_view(mask, n, axis=1).all(axis=2)
    return len(np.unique(grams[whole], axis=0)) / tokens
