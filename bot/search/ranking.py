"""Passages BM25 found → the order a reader sees them in: one linear score over a few signals.

Each signal is a number in [0, 1] that says one thing about a passage and the question:

- ``bm25``: its BM25 score against the best of the candidates';
- ``asked``: whether its best sentence (the one holding most of the question's words) holds what the
  question asks for and does not state: a price for 幾錢, a date for 什么时候, a span of time for 多久, a
  percentage for 比例 or 涨幅, an amount for 净利润 or "sales", a count for how many (``query.asked_for``);
- ``coverage``: the share of the question's weight the passage holds, with its heading and title;
- ``title``: the share its article's title holds: the article is about what is asked;
- ``neighbours``: the share its previous or next paragraph holds: the question's context is around it;
- ``date``: whether its article is of the date the question names (2月13日, 上周五, "on Feb 12");
- ``numbers``: the share of the question's numbers it holds (a year, an amount, a model number);
- ``lead``: whether it is its article's first paragraph;
- ``long``: its length, up to ``LONG`` characters: a one-line fragment ("相關新聞：…") rarely answers.

The score is their weighted sum (``weights.WEIGHTS``, fitted by ``benchmarks/fit_ranker.py``, all
weights ≥ 0 so that a higher score always means more of what answers). Signals that did not earn half a
point of recall@1 on some evaluation set were dropped (README, "Quality": the sentence's share of the
question, the article's share, the share of the sentence that holds the asked-for kind). Only the first ``HEAD``
candidates are re-ordered: past them BM25's order stands, and reading their articles would cost more
than it could change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from bot.search.library import Library, Passage
from bot.search.query import Query, Sentences
from bot.search.weights import WEIGHTS

SIGNALS = ("bm25", "asked", "coverage", "title", "neighbours", "date", "numbers", "lead", "long")
LONG = 200
HEAD = 30
"""Candidates re-ordered by the ranker."""
Table = npt.NDArray[np.float64]
"""Signals by passage: one row a passage, one column a signal (in ``SIGNALS``' order)."""
DATED = 10
"""Passages of the named date's articles added to the candidates (the best of them by BM25)."""


class Ranker:
    """Orders candidates by the weighted sum of their signals."""

    def __init__(self, weights: Mapping[str, float] = WEIGHTS) -> None:
        unknown = set(weights) - set(SIGNALS)
        if unknown:
            raise ValueError(f"no such signal: {', '.join(sorted(unknown))}")
        self.weights = {name: float(weights.get(name, 0.0)) for name in SIGNALS}
        self.vector = np.array([self.weights[name] for name in SIGNALS], dtype=np.float64)

    def scores(self, signals: Table) -> npt.NDArray[np.float64]:
        return signals @ self.vector if len(signals) else np.zeros(0)


def candidates(library: Library, query: Query, k: int) -> list[Passage]:
    """BM25's best passages, and, when the question names a date, the best of that date's articles
    among the first ``HEAD`` (another day's report of the same column often outscores them)."""
    passages = library.search(query.terms, max(k, HEAD))
    if query.date is None:
        return passages
    seen = {p.index for p in passages[:HEAD]}
    known = [token for token in query.tokens if token in query.term_ids]
    dated = [p for p in library.dated_search(known, query.date.start, query.date.end, DATED) if p.index not in seen]
    if not dated:
        return passages
    head = passages[:HEAD - len(dated)] + dated
    chosen = {p.index for p in head}
    return head + [p for p in passages if p.index not in chosen]


def signals(library: Library, query: Query, head: Sequence[Passage],
            sentences: Mapping[int, Sentences]) -> Table:
    """The (passages × SIGNALS) table of the head of the candidates."""
    n = len(head)
    table = np.zeros((n, len(SIGNALS)), dtype=np.float64)
    total = query.total
    if not n or total <= 0:
        return table
    column = {name: i for i, name in enumerate(SIGNALS)}
    index, tokenizer = library.index, library.tokenizer
    indices = [p.index for p in head]
    top = max(p.score for p in head) or 1.0
    table[:, column["bm25"]] = [p.score / top for p in head]
    table[:, column["asked"]] = [float(sentences[p.index].asks_met()) for p in head]
    table[:, column["coverage"]] = query.share_held(index, indices)
    table[:, column["title"]] = [query.weigh(tokenizer.normalize(p.article.title), tokenizer) / total for p in head]
    table[:, column["neighbours"]] = _neighbour_shares(library, query, head)
    if query.date is not None:
        first, last = query.date.start.toordinal(), query.date.end.toordinal()
        days = library.days[[p.article_no for p in head]]
        table[:, column["date"]] = (days >= first) & (days <= last)
    numbers = [term for token, term in query.term_ids.items() if any(ch.isdigit() for ch in token)]
    if numbers:
        table[:, column["numbers"]] = index.holding(numbers, indices).mean(axis=0)
    table[:, column["lead"]] = [p.position == 0 for p in head]
    table[:, column["long"]] = [min(1.0, len(p.paragraph.text) / LONG) for p in head]
    return np.clip(table, 0.0, 1.0)


def _neighbour_shares(library: Library, query: Query, head: Sequence[Passage]) -> list[float]:
    """The better of the previous and the next paragraph's share (within the same article)."""
    pairs = []
    for p in head:
        start, end = library.bounds(p.article_no)
        pairs.append([i for i in (p.index - 1, p.index + 1) if start <= i < end])
    flat = sorted({i for pair in pairs for i in pair})
    if not flat:
        return [0.0] * len(head)
    share = dict(zip(flat, query.share_held(library.index, flat)))
    return [max((share[i] for i in pair), default=0.0) for pair in pairs]
