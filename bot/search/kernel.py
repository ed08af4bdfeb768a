"""The search's inner loops, compiled: one pass over each posting instead of numpy's five.

numpy reads a posting list in ~11 ns a posting, because every step (gather the scores, add,
scatter them back, compare, compress the new paragraphs) is its own pass over memory, and
it must first compute each list's scores once and cache them (another ~11 ns a posting).
The same loop compiled by numba costs ~3 ns a posting and needs no cache, which is what
puts articlebot ahead of tantivy and of bm25s's own numba backend at every size measured.

The algorithm is the exact MaxScore, written as plain loops over the index's arrays:
lists are read highest score bound first, and every raised score is offered to the k
leaders as it is added. Before a long list, the leaders are looked up in the next few
unread lists to get a floor the k-th best will reach; once the unread lists' bounds sum
below that floor and the paragraphs still in reach are few enough to look up one by one,
reading stops, and each of those paragraphs gets the unread lists' scores by binary
search, stopping as soon as it can no longer make the top k. Scores are float32 sums in
the same order as the exhaustive numpy scorer's (``bot.search.index.Exhaustive``), so both
give the same hits.

numba's import (~0.2 s) and the first compilation (12–15 s, then ~0.5 s from its cache)
are paid by whoever loads ``bot.search.compiled.CompiledSearch``: the bot, in the background
after it starts; one-shot commands never import this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba
import numpy as np
from numba import njit

SCAN_SHARE = 32
"""Lists shorter than 1/SCAN_SHARE of the paragraphs (or than MIN_SCAN) are read without first
checking whether they can still matter (measured best at 100k and 1M paragraphs)."""
MIN_SCAN = 1024
FLOOR_LOOKUPS = 4
"""Unread terms looked up for the leading paragraphs when the floor is raised."""
SLACK = 1e-5
"""Relative margin on score bounds, so float32 rounding never prunes a paragraph that ties."""
CHECK_RATIO = 4
"""A check may end in a pass over the paragraphs touched so far; one is made only before a list
that long relative to them (length × CHECK_RATIO > touched)."""
LOOKUP_COST = 24
"""A binary search in a long list costs about as much as reading this many postings in order."""
DENSE = 4
"""Beyond 1/DENSE of the paragraphs touched, zeroing the whole score array is cheaper than one by one."""


@njit(cache=True, nogil=True, inline="always")
def _impact(tf, norm, scale, weight):  # type: ignore[no-untyped-def]
    """BM25Okapi's term score, rounded exactly as index.py's numpy expression rounds it."""
    f = np.float32(tf)
    return np.float32(np.float32(scale * (f / (f + norm))) * weight)


@njit(cache=True, nogil=True)
def _score_in(doc_ids, tfs, start, end, norms, scale, weight, paragraph):  # type: ignore[no-untyped-def]
    """The list's score in one paragraph (0 where absent), by binary search."""
    lo, hi = np.uint64(start), np.uint64(end)
    while lo < hi:
        mid = (lo + hi) >> np.uint64(1)
        if doc_ids[mid] < paragraph:
            lo = mid + np.uint64(1)
        else:
            hi = mid
    if lo < np.uint64(end) and doc_ids[lo] == paragraph:
        return _impact(tfs[lo], norms[np.uint32(paragraph)], scale, weight)
    return np.float32(0)


@njit(cache=True, nogil=True)
def _offer(best, docs, weakest, value, paragraph):  # type: ignore[no-untyped-def]
    """Keep (value, paragraph) among the k best, ties to the earlier paragraph, one entry per
    paragraph; returns the new weakest slot."""
    if value > best[weakest] or (value == best[weakest] and paragraph < docs[weakest]):
        for j in range(len(docs)):
            if docs[j] == paragraph:
                best[j] = value
                break
        else:
            best[weakest] = value
            docs[weakest] = paragraph
        weakest = 0
        for j in range(1, len(docs)):
            if best[j] < best[weakest] or (best[j] == best[weakest] and docs[j] > docs[weakest]):
                weakest = j
    return weakest


@njit(cache=True, nogil=True)
def top_k(offsets, doc_ids, tfs, norms, term_scales, term_bounds,  # type: ignore[no-untyped-def]
          ids, times, k, scan_always, floor_lookups, slack, scores, touched):
    """The k best paragraphs for the query terms (``ids``, each asked ``times`` times) as
    (paragraphs, scores, postings read), best first, ties to the earlier paragraph; empty
    slots hold paragraph -1. ``scores`` must be all zeros and is left so; ``touched`` is
    scratch space as long as it."""
    # Highest bound × times first, ties by term id: the order index.py adds scores in.
    by_id = np.argsort(ids)
    order = by_id[np.argsort(-(term_bounds[ids[by_id]].astype(np.float64) * times[by_id]), kind="mergesort")]
    terms, counts = ids[order], times[order]
    m = len(terms)
    scales = np.empty(m, dtype=np.float32)
    weights = np.empty(m, dtype=np.float32)
    left = np.zeros(m + 1)  # left[i]: the most terms[i:] can add to a score
    postings = np.zeros(m + 1, dtype=np.int64)  # postings[i]: the postings of terms[i:]
    for i in range(m - 1, -1, -1):
        scales[i] = term_scales[terms[i]]
        weights[i] = counts[i]
        left[i] = left[i + 1] + np.float64(term_bounds[terms[i]]) * counts[i]
        postings[i] = postings[i + 1] + offsets[terms[i] + 1] - offsets[terms[i]]
    # The k best partial scores, kept as the lists are read: every raised score is offered.
    leaders = np.full(k, -np.inf, dtype=np.float32)
    leader_docs = np.full(k, -1, dtype=np.int64)
    weakest = 0
    n = scanned = found = 0  # paragraphs touched, postings read, paragraphs in reach when reading stops
    candidates = np.empty(0, dtype=touched.dtype)
    candidate_values = np.empty(0, dtype=np.float32)
    threshold = -np.inf
    read = m
    for i in range(m):
        start, end = offsets[terms[i]], offsets[terms[i] + 1]
        if i > 0 and n >= k and end - start > scan_always and (end - start) * CHECK_RATIO > n:
            floor = np.inf
            for j in range(k):
                value = np.float64(leaders[j])
                for u in range(i, min(m, i + floor_lookups)):
                    value += _score_in(doc_ids, tfs, offsets[terms[u]], offsets[terms[u] + 1], norms,
                                       scales[u], weights[u], leader_docs[j])
                floor = min(floor, value)
            threshold = max(threshold, floor)
            reach = left[i] * (1 + slack) + slack
            if reach < threshold and postings[i] > n // 2:
                # Stop reading if a pass over the touched paragraphs (about half a posting's
                # cost each) plus looking the rest up for those in reach (most drop out after a
                # lookup or two) costs less than reading on; the pass collects them.
                budget = (postings[i] - n // 2) // (2 * LOOKUP_COST)
                candidates = np.empty(budget, dtype=touched.dtype)
                candidate_values = np.empty(budget, dtype=np.float32)
                found = 0
                for j in range(n):
                    value = scores[np.uint32(touched[j])]
                    if value + reach >= threshold:
                        if found == budget:
                            found += 1
                            break
                        candidates[found] = touched[j]
                        candidate_values[found] = value
                        found += 1
                if found <= budget:
                    read = i
                    break
        scale, weight = scales[i], weights[i]
        for p in range(np.uint64(start), np.uint64(end)):  # unsigned: numba skips negative-index checks
            paragraph = np.uint32(doc_ids[p])
            value = scores[paragraph]
            touched[n] = paragraph  # kept only if new: no branch to mispredict on half the postings
            n += value == 0
            value += _impact(tfs[p], norms[paragraph], scale, weight)
            scores[paragraph] = value
            if value >= leaders[weakest]:
                weakest = _offer(leaders, leader_docs, weakest, value, paragraph)
        scanned += end - start
    _clear(scores, touched, n)
    if read == m:  # every list read: the leaders are the answer
        best, best_docs = leaders, leader_docs
    else:
        best, best_docs = _complete(offsets, doc_ids, tfs, norms, terms, scales, weights, left, read, k,
                                    threshold, slack, candidates[:found], candidate_values[:found])
    order = np.argsort(best_docs)  # paragraph order first, so that the stable sort keeps ties so
    order = order[np.argsort(-best[order], kind="mergesort")]
    return best_docs[order], best[order], scanned


@njit(cache=True, nogil=True)
def _clear(scores, touched, n):  # type: ignore[no-untyped-def]
    """Zero the touched scores: one by one, or the whole array when that is cheaper."""
    if n * DENSE > len(scores):
        scores[:] = 0
    else:
        for j in range(n):
            scores[np.uint32(touched[j])] = 0


@njit(cache=True, nogil=True)
def _complete(offsets, doc_ids, tfs, norms, terms, scales, weights, left,  # type: ignore[no-untyped-def]
              read, k, threshold, slack, candidates, values):
    """The k best once reading stopped at terms[read]: each paragraph still in reach gets the
    unread lists looked up, stopping once what is left to add can no longer lift it to the
    k-th best."""
    best = np.full(k, -np.inf, dtype=np.float32)
    best_docs = np.full(k, -1, dtype=np.int64)
    weakest = 0
    for j in range(len(candidates)):
        paragraph, value = candidates[j], values[j]
        floor = max(threshold, np.float64(best[weakest]))
        for u in range(read, len(terms) + 1):
            if value + left[u] * (1 + slack) + slack < floor:
                break
            if u == len(terms):
                weakest = _offer(best, best_docs, weakest, value, paragraph)
            else:
                value += _score_in(doc_ids, tfs, offsets[terms[u]], offsets[terms[u] + 1], norms,
                                   scales[u], weights[u], paragraph)
    return best, best_docs


def compile_now(cache_folder: Path | None = None) -> None:
    """Compile the loops (or load them from numba's cache, kept in ``cache_folder`` unless
    NUMBA_CACHE_DIR names another) with a one-posting query, so no reader's question waits for it."""
    if cache_folder is not None and not os.environ.get("NUMBA_CACHE_DIR"):
        numba.config.CACHE_DIR = str(cache_folder / "numba")  # type: ignore[attr-defined]
        for function in (_impact, _score_in, _offer, top_k, _clear, _complete):
            function.enable_caching()  # the cache place is chosen when caching is enabled
    arrays: list[np.ndarray] = [np.array([0, 1], dtype=np.int64), np.zeros(1, dtype=np.int32), np.ones(1, dtype=np.uint16),
              np.ones(1, dtype=np.float32), np.ones(1, dtype=np.float32), np.ones(1, dtype=np.float32)]
    for array in arrays:
        array.flags.writeable = False  # an index's arrays are read-only: compile for exactly that kind
    top_k(*arrays, np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), 1, MIN_SCAN,  # type: ignore[call-arg]
          FLOOR_LOOKUPS, SLACK, np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.int32))
