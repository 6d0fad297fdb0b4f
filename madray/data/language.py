"""A language whose distribution is known exactly: a deterministic probabilistic automaton.

A `Grammar` is a non-recursive probabilistic grammar with variables (see madray/data/stories.py).
`Language.from_grammar` expands it into a deterministic probabilistic finite automaton: from each
state every possible next token has one probability and leads to one next state, and the end
token "<eos>" (id 0) leads out of the automaton. Determinism makes the map from state paths to
token strings one-to-one, so a story's probability is the product of its token probabilities
along its unique path, and the entropy of the story distribution is the entropy of the path
distribution, which the absorbing-chain identity gives exactly:

    v = e_start + Pᵀ v             v_s = expected number of visits to state s (each visit emits one token)
    H(story) = Σ_s v_s · h(s)      h(s) = −Σ_w p(w | s) log p(w | s), the end token included
    E[tokens] = Σ_s v_s            tokens per story, the end token included

(the fundamental matrix N = (I − Q)⁻¹ of an absorbing Markov chain, whose entries are the expected
visits to each transient state before absorption: Kemeny & Snell, *Finite Markov Chains*, §3.2).
madray's entropy rate is the per-token entropy H(story) / E[tokens]; a model q scored on stories
of p has the per-token cross-entropy E_p[−log q(S)] / E[tokens], and the difference of the two is
KL(p ‖ q) / E[tokens] ≥ 0, the KL divergence per token (madray/models/lm.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

EOS = "<eos>"
Rules = Mapping[str, list[tuple[float, str]]]
Config = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]  # (symbols still to expand, variable bindings)


@dataclass(frozen=True)
class Grammar:
    """Rules `name -> [(weight, "sym sym ...")]`, non-recursive; a symbol is a rule name, a word, or:

    - `$var=RULE` expands RULE (whose alternatives are single words) and binds `var` to the word;
    - `$var` emits the word bound to `var`; `$var.table` emits `tables[table][that word]`;
    - an alternative that starts with `?var` is allowed only once `var` is bound (weights are
      renormalised over the allowed alternatives); an empty alternative emits nothing.
    """

    rules: Rules
    start: str
    tables: Mapping[str, Mapping[str, str]] | None = None

    def alternatives(self, name: str, binds: dict[str, str]) -> Iterator[tuple[float, tuple[str, ...]]]:
        allowed = []
        for weight, text in self.rules[name]:
            symbols = tuple(text.split())
            if symbols and symbols[0].startswith("?"):
                if symbols[0][1:] not in binds:
                    continue
                symbols = symbols[1:]
            allowed.append((weight, symbols))
        total = sum(w for w, _ in allowed)
        return ((w / total, s) for w, s in allowed)

    def emissions(self, config: Config, prob: float = 1.0) -> Iterator[tuple[str, float, Config | None]]:
        """(token, probability, next config) for every derivation of the next token from `config`."""
        stack, bound = config
        if not stack:
            yield EOS, prob, None
            return
        head, rest, binds = stack[0], stack[1:], dict(bound)
        if head in self.rules:
            for p, symbols in self.alternatives(head, binds):
                yield from self.emissions((symbols + rest, bound), prob * p)
        elif head.startswith("$") and "=" in head:
            var, rule = head[1:].split("=")
            for p, (word,) in self.alternatives(rule, binds):
                yield word, prob * p, (rest, tuple(sorted({**binds, var: word}.items())))
        elif head.startswith("$"):
            var, _, table = head[1:].partition(".")
            word = binds[var]
            yield (self.tables[table][word] if table else word), prob, (rest, bound)
        else:
            yield head, prob, (rest, bound)


@dataclass(frozen=True, eq=False)
class Language:
    """A deterministic probabilistic automaton over `tokens` (id 0 = EOS); state 0 is the start.

    Edges in CSR layout: the edges of state s are `offsets[s]:offsets[s+1]`, sorted by token,
    with `token`, `prob` and `target` (−1 = the story ends; only the EOS edge has it).
    """

    tokens: tuple[str, ...]
    offsets: np.ndarray
    token: np.ndarray
    prob: np.ndarray
    target: np.ndarray

    @classmethod
    def from_grammar(cls, grammar: Grammar) -> Language:
        """Breadth-first expansion from the start symbol; ValueError if the grammar is not deterministic."""
        start: Config = ((grammar.start,), ())
        ids: dict[Config, int] = {start: 0}
        order, rows = [start], []
        for config in order:  # `order` grows while we walk it
            edges: dict[str, tuple[float, Config | None]] = {}
            for word, p, nxt in grammar.emissions(config):
                if word in edges and edges[word][1] != nxt:
                    raise ValueError(f"grammar is not deterministic: after {config} the token {word!r} "
                                     f"leads to both {edges[word][1]} and {nxt}")
                edges[word] = (edges.get(word, (0.0, nxt))[0] + p, nxt)
            for _, nxt in edges.values():
                if nxt is not None and nxt not in ids:
                    ids[nxt] = len(order)
                    order.append(nxt)
            rows.append({w: (p, -1 if nxt is None else ids[nxt]) for w, (p, nxt) in edges.items()})
        tokens = (EOS,) + tuple(sorted({w for row in rows for w in row} - {EOS}))
        index = {w: i for i, w in enumerate(tokens)}
        edges = [(s, index[w], p, t) for s, row in enumerate(rows) for w, (p, t) in sorted(row.items(), key=lambda kv: index[kv[0]])]
        state, token, prob, target = (np.asarray(col) for col in zip(*edges))
        offsets = np.searchsorted(state, np.arange(len(rows) + 1))
        return cls(tokens, offsets, token.astype(np.int64), prob.astype(np.float64), target.astype(np.int64))

    @property
    def states(self) -> int:
        return len(self.offsets) - 1

    def edge_state(self) -> np.ndarray:
        return np.repeat(np.arange(self.states), np.diff(self.offsets))

    # ------------------------------------------------------------------ exact quantities
    def visits(self) -> np.ndarray:
        """Expected visits v of each state per story: the solution of (I − Pᵀ) v = e_start."""
        inner = self.target >= 0
        P = scipy.sparse.csr_matrix((self.prob[inner], (self.edge_state()[inner], self.target[inner])),
                                    shape=(self.states, self.states))
        start = np.zeros(self.states)
        start[0] = 1.0
        return scipy.sparse.linalg.spsolve((scipy.sparse.identity(self.states, format="csc") - P.T).tocsc(), start)

    def state_entropy(self) -> np.ndarray:
        """h(s) = −Σ_w p(w | s) log p(w | s), nats."""
        return np.bincount(self.edge_state(), weights=-self.prob * np.log(self.prob), minlength=self.states)

    def story_entropy(self) -> tuple[float, float]:
        """(H(story) in nats, E[tokens per story] with the end token), exactly (module docstring)."""
        v = self.visits()
        return float(v @ self.state_entropy()), float(v.sum())

    def entropy_rate(self) -> float:
        """Nats per token: H(story) / E[tokens per story]."""
        h, tokens = self.story_entropy()
        return h / tokens

    def length_distribution(self) -> np.ndarray:
        """P(a story has n tokens, the end token included) for n = 0, 1, ..., by forward propagation of
        the state distribution one token at a time (exact; the automaton has no cycles)."""
        inner = self.target >= 0
        P = scipy.sparse.csr_matrix((self.prob[inner], (self.edge_state()[inner], self.target[inner])),
                                    shape=(self.states, self.states))
        ends = np.zeros(self.states)
        ends[self.edge_state()[~inner]] = self.prob[~inner]
        mass, out = np.eye(1, self.states)[0], [0.0]
        while mass.sum() > 0:
            out.append(float(mass @ ends))
            mass = P.T @ mass
            if len(out) > 100_000:
                raise ValueError("the automaton has a cycle: stories have no maximum length")
        return np.asarray(out)

    def max_length(self) -> int:
        """Tokens of the longest story, the end token included."""
        return len(self.length_distribution()) - 1

    # ------------------------------------------------------------------ sampling and scoring
    @functools.cached_property
    def _thresholds(self) -> np.ndarray:
        """Each state's cumulative edge probabilities shifted by the state index: one sorted array,
        in which a uniform u drawn in state s selects the first edge whose value exceeds s + u."""
        c = np.cumsum(self.prob)
        before = np.concatenate([[0.0], c])[self.offsets[:-1]]
        within = c - np.repeat(before, np.diff(self.offsets))
        within[self.offsets[1:] - 1] = 1.0  # exactly 1, whatever the rounding
        return self.edge_state() + within

    @functools.cached_property
    def _keys(self) -> np.ndarray:
        """state · V + token of every edge: sorted, for looking edges up."""
        return self.edge_state() * len(self.tokens) + self.token

    def sample(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        """n independent stories, each an int64 array of token ids ending with the end token (0)."""
        state, alive = np.zeros(n, dtype=np.int64), np.arange(n)
        steps = []  # (story indices, their tokens) per position
        while len(alive):
            edge = np.searchsorted(self._thresholds, state[alive] + rng.random(len(alive)), side="right")
            steps.append((alive, self.token[edge]))
            state[alive] = self.target[edge]
            alive = alive[self.target[edge] >= 0]
        out = np.full((n, len(steps)), -1, dtype=np.int64)
        for i, (rows, tokens) in enumerate(steps):
            out[rows, i] = tokens
        return [row[row >= 0] for row in out]

    def log_probs(self, rows: np.ndarray) -> np.ndarray:
        """log p(story) of each row of token ids (the end token, then −1 padding); −inf for a row the
        language cannot produce (an unknown transition, no end token, tokens after the end)."""
        rows = np.atleast_2d(rows)
        state = np.zeros(len(rows), dtype=np.int64)  # >= 0 reading, -1 ended, -2 impossible
        total = np.zeros(len(rows))
        for tok in rows.T:
            reading = state >= 0
            state[(reading & (tok < 0)) | ((state == -1) & (tok >= 0))] = -2
            reading &= tok >= 0
            key = state[reading] * len(self.tokens) + tok[reading]
            edge = np.minimum(np.searchsorted(self._keys, key), len(self._keys) - 1)
            known = self._keys[edge] == key
            total[reading] += np.where(known, np.log(self.prob[edge]), 0.0)
            state[reading] = np.where(known, self.target[edge], -2)
        return np.where(state == -1, total, -np.inf)
