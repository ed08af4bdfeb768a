"""Tokens → an inverted index → hits: BM25 with Lucene's idf, scored as rank-bm25 scores.

rank-bm25's ``get_scores`` walks every paragraph in Python for every query term (127 ms a
query at 55k paragraphs). Here postings are grouped by term (CSR layout: ``offsets`` into
``doc_ids`` and ``tfs``), so a query reads only its own terms' postings. Each posting
stores the term frequency, not a precomputed score, as Lucene and tantivy do: that keeps
the index small (6 bytes a posting), lets k1/b change without re-indexing, and lets an
update append a few files' postings instead of rebuilding.

The idf is Lucene's (and bm25s's), log(1 + (N − n + 0.5) / (n + 0.5)), not BM25Okapi's
log((N − n + 0.5) / (n + 0.5)): Okapi's is zero for a term in half the paragraphs and negative
above that, so in a folder of three articles a title word (indexed with every paragraph of
its article) weighed nothing and nothing answered. Lucene's is positive for every term at any
corpus size and equal to Okapi's for rare terms, so large corpora rank as before (measured on
every evaluation set). The term-frequency part is rank-bm25's BM25Okapi exactly:
``tests/test_index.py`` checks our scores against ``get_scores`` of a BM25Okapi given this idf.

Queries skip work the way MaxScore does: every term carries an upper bound of its score
in any paragraph. Terms are read rarest-first (highest bound first); once the k-th best
score found so far beats the summed bounds of the terms not yet read, no paragraph that
only those terms match can enter the top k, so their long postings are never scanned;
the few candidates still in reach look them up by binary search instead. The result is
exact, not an approximation.

The same search also exists compiled (``kernel.py``, numba): ``compile_search`` switches
every index in the process to it, which the bot does in the background once it serves.
numpy stays the path for one-shot commands, which cannot afford numba's import and
compilation, and for machines without numba.

Another backend (OpenSearch, tantivy) would be another class with the same ``search``
method (see ``SearchBackend``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from bot.errors import IndexCacheError

log = logging.getLogger(__name__)

MAX_TF = np.iinfo(np.uint16).max
"""Term frequencies are stored in 16 bits; a token repeated more often in one paragraph saturates."""
BLOCK_TOKENS = 1 << 23
"""Token occurrences gathered before they are sorted into postings: bounds memory while building."""
CHUNK_POSTINGS = 1 << 23
"""Postings handled per step when whole-index passes must stay within a few hundred MB."""
IMPACT_CACHE_POSTINGS = 1 << 24
"""Postings kept scored for the terms asked about lately: 192 MB at most (8-byte id, 4-byte score)."""
SCAN_SHARE = 32
"""Lists shorter than 1/SCAN_SHARE of the paragraphs (or than MIN_SCAN) are read without first
checking whether they can still matter (measured best at 100k and 1M paragraphs)."""
MIN_SCAN = 1024
FLOOR_LOOKUPS = 4
"""Unread terms looked up for the leading paragraphs when the floor is raised."""
CHECK_RATIO = 4
"""A check costs about a pass over the paragraphs touched so far; it is made only before a list
that long relative to them (length × CHECK_RATIO > touched) for skipping it to pay off."""
LOOKUP_RATIO = 16
"""Binary searches cost ~16× a scanned posting: beyond that many candidates, a term is scanned."""
_SLACK = 1e-5
"""Relative margin on score bounds, so float32 rounding never prunes a paragraph that ties."""


_kernel: ModuleType | None = None
"""bot.search.kernel once ``compile_search`` has loaded it; until then every search runs in numpy."""


def compile_search(cache_folder: Path | None = None) -> bool:
    """Load and compile the numba search (seconds the first time, then from numba's disk cache,
    kept in ``cache_folder`` unless NUMBA_CACHE_DIR says otherwise) and use it from now on in
    every index; False, with the reason logged, where it can't load."""
    global _kernel
    if cache_folder is not None:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_folder / "numba"))
    try:
        from bot.search import kernel
        kernel.top_k(*_tiny_query())  # compiles now, not during somebody's question
    except Exception as error:  # noqa: BLE001 - no numba, or no compiler for this CPU: numpy serves
        log.warning("compiled search unavailable, searching with numpy: %s", error)
        return False
    _kernel = kernel
    return True


def _tiny_query() -> tuple[object, ...]:
    """Arguments of exactly the kernel's types (the index's arrays are read-only) for a one-posting index."""
    index: list[npt.NDArray[Any]] = [
             np.array([0, 1], dtype=np.int64), np.zeros(1, dtype=np.int32), np.ones(1, dtype=np.uint16),
             np.ones(1, dtype=np.float32), np.ones(1, dtype=np.float32), np.ones(1, dtype=np.float32)]
    for array in index:
        array.flags.writeable = False
    return (*index, np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), 1, MIN_SCAN, FLOOR_LOOKUPS, _SLACK,
            np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.int32))


@dataclass(frozen=True)
class BM25Params:
    """BM25's knobs, named as rank-bm25 names them."""

    k1: float = 0.9
    b: float = 0.4


class Hit(NamedTuple):
    """A paragraph (by its number in the index) and its BM25 score for the query (a named tuple:
    a search makes ten of them, and a frozen dataclass costs ~1 µs each to build)."""

    paragraph: int
    score: float


class SearchBackend(Protocol):
    """What the rest of articlebot needs from a search engine."""

    def search(self, tokens: Sequence[str], k: int) -> list[Hit]: ...

    def matched_weight(self, weights: dict[str, float], paragraphs: Sequence[int]) -> list[float]: ...

    def idf(self, token: str) -> float: ...


@dataclass(frozen=True)
class EncodedTokens:
    """One file's paragraphs as numbers: what tokenizing workers send back instead of strings.

    Lists of ``str`` cost ~60 bytes a token to pickle and hold; here each distinct token is
    spelled once and every occurrence is a 4-byte number.
    """

    terms: tuple[str, ...]
    """The file's distinct tokens."""
    ids: npt.NDArray[np.int32]
    """Every token occurrence as a position in ``terms``, paragraph after paragraph."""
    lengths: npt.NDArray[np.int32]
    """Tokens per paragraph."""


def encode(documents: Sequence[Sequence[str]]) -> EncodedTokens:
    positions: dict[str, int] = {}
    ids = [positions.setdefault(token, len(positions)) for doc in documents for token in doc]
    return EncodedTokens(tuple(positions), np.asarray(ids, dtype=np.int32),
                         np.fromiter((len(doc) for doc in documents), dtype=np.int32, count=len(documents)))


@dataclass(frozen=True)
class _Block:
    """Postings of a run of consecutive paragraphs, grouped by term (counts per term id).

    A block taken from an earlier index may drop paragraphs: then ``doc_ids``/``tfs`` are the
    old arrays as they are (``stored`` postings per term), ``keep`` says which paragraphs
    stay and ``renumber`` gives their new numbers; ``counts`` counts what stays.
    """

    counts: npt.NDArray[np.int64]
    doc_ids: npt.NDArray[np.int32]
    tfs: npt.NDArray[np.uint16]
    stored: npt.NDArray[np.int64] | None = None
    keep: npt.NDArray[np.bool_] | None = None
    renumber: npt.NDArray[np.int32] | None = None


class IndexBuilder:
    """Builds a BM25Index from files' tokens in bounded memory, optionally on top of an old one.

    Paragraphs are numbered in the order they are added. Token occurrences are sorted into
    postings a block at a time (a few million at once, in int32/uint16 arrays); the blocks
    are merged term by term at the end. An update starts from the previous index, minus the
    paragraphs of changed or deleted files, and only adds the files that changed.
    """

    def __init__(self, base: BM25Index | None = None, runs: Sequence[tuple[int, bool]] = ()) -> None:
        """``runs`` describes the base's paragraphs in order as (how many, keep them?) pairs,
        e.g. one per article; paragraphs of runs not kept are dropped."""
        self.vocabulary: dict[str, int] = dict(base.vocabulary) if base is not None else {}
        self._blocks: list[_Block] = []
        self._lengths: list[npt.NDArray[np.int32]] = []
        self._pending: list[npt.NDArray[np.int32]] = []
        self._pending_lengths: list[npt.NDArray[np.int32]] = []
        self._pending_tokens = 0
        self.n_docs = 0
        if base is not None:
            keep = np.repeat(np.fromiter((k for _, k in runs), dtype=bool, count=len(runs)),
                             np.fromiter((n for n, _ in runs), dtype=np.int64, count=len(runs)))
            self._keep_from(base, keep if len(runs) else None)

    def _keep_from(self, base: BM25Index, keep: npt.NDArray[np.bool_] | None) -> None:
        """Start from the base's postings; paragraphs where ``keep`` is False are dropped and the
        rest renumbered without gaps (order kept)."""
        counts = np.diff(base.offsets)
        if keep is not None and len(keep) != base.n_docs:
            raise ValueError(f"runs describe {len(keep)} paragraphs, the index holds {base.n_docs}")
        if keep is None or bool(np.all(keep)):
            self._blocks.append(_Block(counts, base.doc_ids, base.tfs))
            self._lengths.append(np.asarray(base.lengths))
            self.n_docs = base.n_docs
            return
        # Only the counts are computed here; the kept postings are copied once, in finish().
        dropped_per_term = np.zeros(len(counts), dtype=np.int64)
        for begin in range(0, len(base.doc_ids), CHUNK_POSTINGS):  # bounded temporaries
            dropped = begin + np.flatnonzero(~keep[base.doc_ids[begin:begin + CHUNK_POSTINGS]])
            dropped_per_term += np.bincount(np.searchsorted(base.offsets, dropped, side="right") - 1,
                                            minlength=len(counts))
        renumber = (np.cumsum(keep, dtype=np.int64) - 1).astype(np.int32)
        self._blocks.append(_Block(counts - dropped_per_term, base.doc_ids, base.tfs, counts, keep, renumber))
        self._lengths.append(np.asarray(base.lengths)[keep])
        self.n_docs = int(keep.sum())

    def add(self, encoded: EncodedTokens) -> int:
        """Append a file's paragraphs; returns the number of the first one."""
        first = self.n_docs
        lookup = np.fromiter((self.vocabulary.setdefault(t, len(self.vocabulary)) for t in encoded.terms),
                             dtype=np.int32, count=len(encoded.terms))
        self._pending.append(lookup[encoded.ids])
        self._pending_lengths.append(encoded.lengths)
        self._pending_tokens += len(encoded.ids)
        self.n_docs += len(encoded.lengths)
        if self._pending_tokens >= BLOCK_TOKENS:
            self._flush()
        return first

    def add_documents(self, documents: Sequence[Sequence[str]]) -> int:
        return self.add(encode(documents))

    def _flush(self) -> None:
        """Sort the pending token occurrences into one block of postings."""
        if not self._pending_lengths:
            return
        lengths = np.concatenate(self._pending_lengths)
        terms = np.concatenate(self._pending)
        first = self.n_docs - len(lengths)
        n = max(len(lengths), 1)
        local = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        keys, tf = np.unique(terms.astype(np.int64) * n + local, return_counts=True)
        post_terms, post_docs = np.divmod(keys, n)
        self._blocks.append(_Block(np.bincount(post_terms, minlength=len(self.vocabulary)).astype(np.int64),
                                   (post_docs + first).astype(np.int32),
                                   np.minimum(tf, MAX_TF).astype(np.uint16)))
        self._lengths.append(lengths.astype(np.int32))
        self._pending, self._pending_lengths, self._pending_tokens = [], [], 0

    def finish(self, params: BM25Params = BM25Params()) -> BM25Index:
        """Merge the blocks: each term's postings are its blocks' postings, block after block.

        Terms are renumbered in sorted order on the way, so that a loaded index finds a
        token's id by bisecting the term list: no 300k-entry dict is built at every start.
        """
        self._flush()
        terms = list(self.vocabulary)
        n_terms = len(terms)
        counts = np.zeros(n_terms, dtype=np.int64)
        for block in self._blocks:
            counts[:len(block.counts)] += block.counts
        ranked = sorted(range(n_terms), key=terms.__getitem__)
        offsets = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(counts[ranked], out=offsets[1:])
        doc_ids = np.empty(int(offsets[-1]), dtype=np.int32)
        tfs = np.empty(int(offsets[-1]), dtype=np.uint16)
        new_ids = np.empty(n_terms, dtype=np.int64)
        new_ids[ranked] = np.arange(n_terms)
        filled = offsets[:-1][new_ids]  # where each term, by its build-time id, goes next
        while self._blocks:
            block = self._blocks.pop(0)
            _place(block, filled, doc_ids, tfs)
            filled[:len(block.counts)] += block.counts
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int32)
        self._lengths = []
        return BM25Index([terms[i] for i in ranked], offsets, doc_ids, tfs, lengths.astype(np.int32), params)


def _place(block: _Block, starts: npt.NDArray[np.int64], doc_ids: npt.NDArray[np.int32],
           tfs: npt.NDArray[np.uint16]) -> None:
    """Copy a block's postings to their terms' places (from ``starts``), a chunk of terms at a time."""
    stored = block.counts if block.stored is None else block.stored
    offsets = np.zeros(len(block.counts) + 1, dtype=np.int64)
    np.cumsum(block.counts, out=offsets[1:])
    stored_offsets = offsets if block.stored is None else np.concatenate(([0], np.cumsum(stored)))
    for lo, hi in _term_chunks(stored_offsets):
        begin, end = offsets[lo], offsets[hi]
        if begin == end:
            continue
        shift = starts[lo:hi] - offsets[lo:hi]
        where = np.repeat(shift, block.counts[lo:hi]) + np.arange(begin, end, dtype=np.int64)
        docs = block.doc_ids[stored_offsets[lo]:stored_offsets[hi]]
        found = block.tfs[stored_offsets[lo]:stored_offsets[hi]]
        if block.keep is not None and block.renumber is not None:
            kept = block.keep[docs]
            docs, found = block.renumber[docs[kept]], found[kept]
        doc_ids[where] = docs
        tfs[where] = found


def _term_chunks(offsets: npt.NDArray[np.int64]) -> Iterator[tuple[int, int]]:
    """Consecutive term ranges holding about CHUNK_POSTINGS postings each (a long list alone)."""
    lo, n_terms = 0, len(offsets) - 1
    while lo < n_terms:
        hi = int(np.searchsorted(offsets, offsets[lo] + CHUNK_POSTINGS, side="right")) - 1
        hi = min(max(hi, lo + 1), n_terms)
        yield lo, hi
        lo = hi


class BM25Index:
    """Term-frequency postings by term, with rank-bm25's BM25Okapi scoring and MaxScore pruning."""

    def __init__(self, terms: list[str], offsets: npt.NDArray[np.int64],
                 doc_ids: npt.NDArray[np.int32], tfs: npt.NDArray[np.uint16],
                 lengths: npt.NDArray[np.int32], params: BM25Params = BM25Params(),
                 bounds: npt.NDArray[np.float32] | None = None) -> None:
        self.terms = terms
        """Every term, sorted; a term's id is its position."""
        # Plain ndarray views of the mapped files: np.memmap's Python-level slicing costs ~2 µs a slice.
        self.offsets, self.doc_ids, self.tfs, self.lengths = (
            np.asarray(a).view(np.ndarray) for a in (offsets, doc_ids, tfs, lengths))
        self.params = params
        self.n_docs = len(lengths)
        self.idfs = lucene_idf(np.diff(offsets), self.n_docs)
        total = float(np.sum(lengths, dtype=np.float64))
        avgdl = total / self.n_docs if self.n_docs and total else 1.0
        self.norms = (params.k1 * (1 - params.b + params.b * np.asarray(lengths, dtype=np.float64) / avgdl)
                      ).astype(np.float32)
        self.scales = (self.idfs * (params.k1 + 1)).astype(np.float32)
        self.bounds = self._bounds() if bounds is None else np.asarray(bounds).view(np.ndarray)
        for array in (self.offsets, self.doc_ids, self.tfs, self.lengths, self.norms, self.scales, self.bounds):
            array.flags.writeable = False  # built or loaded alike: the compiled search is compiled for one kind
        # Python lists of what every query looks up per term: faster than indexing arrays one by one.
        self._starts: list[int] = self.offsets.tolist()
        self._bounds_list: list[float] = self.bounds.tolist()
        self._cache: OrderedDict[int, tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]] = OrderedDict()
        self._cached = 0
        self._cache_lock = threading.Lock()
        self._scan_always = max(MIN_SCAN, self.n_docs // SCAN_SHARE)
        self._local = threading.local()

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], params: BM25Params = BM25Params()) -> BM25Index:
        """An index of token lists, one per paragraph; an empty corpus gives an index that finds nothing."""
        builder = IndexBuilder()
        for start in range(0, len(documents), 4096):  # bounded lists of Python ints at a time
            builder.add_documents(documents[start:start + 4096])
        return builder.finish(params)

    def _bounds(self) -> npt.NDArray[np.float32]:
        """Each term's highest score in any paragraph (what MaxScore compares against)."""
        best = np.zeros(len(self.offsets) - 1, dtype=np.float32)
        for lo, hi in _term_chunks(self.offsets):
            present = lo + np.flatnonzero(np.diff(self.offsets[lo:hi + 1]))
            if not len(present):
                continue
            begin, end = self.offsets[lo], self.offsets[hi]
            tf = self.tfs[begin:end].astype(np.float32)
            ratio = tf / (tf + self.norms[self.doc_ids[begin:end]])
            best[present] = np.maximum.reduceat(ratio, self.offsets[present] - begin)
        return best * self.scales

    def idf(self, token: str) -> float:
        """The term's idf; a term no paragraph holds weighs as much as one held by a single paragraph.

        It is at least that informative, and no more can be known of it: giving it the idf of a
        term in no paragraph at all would, in a folder of six paragraphs, make one unknown word
        of a question (开门 against an article that says 开张) outweigh every word the article holds.
        """
        term = self._term(token)
        if term is None:
            return math.log1p((max(self.n_docs, 1) - 0.5) / 1.5)
        return float(self.idfs[term])

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        """Term → id, for building and for callers that look up many terms."""
        return {term: i for i, term in enumerate(self.terms)}

    def _term(self, token: str) -> int | None:
        """The token's term id if some paragraph holds it."""
        term = self._find(token)
        return term if term is not None and self._starts[term + 1] > self._starts[term] else None

    def _find(self, token: str) -> int | None:
        """The token's term id. Bisection (~1 µs) needs no dict built first, which one-shot
        commands can't afford; the compiled search serves many questions, so it uses the dict."""
        if _kernel is not None:
            return self.vocabulary.get(token)
        term = bisect_left(self.terms, token)
        return term if term < len(self.terms) and self.terms[term] == token else None

    def knows(self, token: str) -> bool:
        return self._term(token) is not None

    def _scored(self, term: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """The term's paragraphs and its BM25Okapi score in each, computed once and kept.

        Computing a score takes five array operations per posting, and numpy indexes ~3× faster
        with native-width indices than with the stored int32; frequent terms recur in most
        questions, so both are kept for the terms asked about lately (IMPACT_CACHE_POSTINGS).
        """
        cached = self._cache.get(term)
        if cached is not None:
            self._cache.move_to_end(term)
            return cached
        start, end = self._starts[term], self._starts[term + 1]
        docs = self.doc_ids[start:end].astype(np.intp)
        tf = self.tfs[start:end].astype(np.float32)
        impacts = self.scales[term] * (tf / (tf + self.norms.take(docs)))
        with self._cache_lock:
            self._cache[term] = (docs, impacts)
            self._cached += len(docs)
            while self._cached > IMPACT_CACHE_POSTINGS and len(self._cache) > 1:
                _, (old, _) = self._cache.popitem(last=False)
                self._cached -= len(old)
        return docs, impacts

    def _query_terms(self, tokens: Sequence[str]) -> list[tuple[int, int]]:
        """(term id, times asked) for the tokens the corpus has, highest score bound first.

        rank-bm25 adds a term's score once per occurrence in the question; a weight does the same.
        """
        return self._by_bound(*self._asked(tokens))

    def _by_bound(self, ids: list[int], counts: list[int]) -> list[tuple[int, int]]:
        bounds = self._bounds_list
        return sorted(zip(ids, counts), key=lambda tw: (-bounds[tw[0]] * tw[1], tw[0]))

    def _asked(self, tokens: Sequence[str]) -> tuple[list[int], list[int]]:
        """The term ids of the tokens the corpus has, and how many times each was asked."""
        ids: list[int] = []
        counts: list[int] = []
        for token, times in Counter(tokens).items():
            term = self._term(token)
            if term is not None:
                ids.append(term)
                counts.append(times)
        return ids, counts

    def matched_weight(self, weights: dict[str, float], paragraphs: Sequence[int]) -> list[float]:
        """For each paragraph, the summed weight of the tokens it contains.

        Postings are sorted by paragraph, so this is one binary search per (token, paragraph):
        nothing is tokenized again to tell whether a passage matched a word.
        """
        ids = np.asarray(paragraphs, dtype=np.int64)
        total = np.zeros(len(ids))
        for token, weight in weights.items():
            term = self._term(token)
            if term is None or not len(ids):
                continue
            docs = self.doc_ids[self._starts[term]:self._starts[term + 1]]
            where = np.minimum(np.searchsorted(docs, ids), len(docs) - 1)
            total += weight * (docs[where] == ids)
        return total.tolist()

    def scores(self, tokens: Sequence[str]) -> npt.NDArray[np.float32]:
        """Every paragraph's score, like rank-bm25's ``get_scores`` (added in the order search adds them)."""
        scores = np.zeros(self.n_docs, dtype=np.float32)
        for term, weight in self._query_terms(tokens):
            docs, impacts = self._scored(term)
            scores[docs] += impacts if weight == 1 else impacts * np.float32(weight)
        return scores

    def search(self, tokens: Sequence[str], k: int) -> list[Hit]:
        """The k best paragraphs with a positive score, best first; ties go to the earlier paragraph."""
        if k <= 0 or not self.n_docs:
            return []
        if self._compiled():
            ids, counts = self._asked(tokens)
            if not ids:
                return []
            docs, values, _ = self._compiled_search(ids, counts, k)
            return [Hit(doc, value) for doc, value in zip(docs.tolist(), values.tolist()) if doc >= 0 and value > 0]
        terms = self._query_terms(tokens)
        if not terms:
            return []
        candidates, values, repeats, _ = self._candidates(terms, k)
        return _top(candidates, values, k, repeats)

    def postings_read(self, tokens: Sequence[str], k: int) -> tuple[int, int]:
        """(postings of the question's terms, postings a top-k search actually scans): what pruning saves."""
        ids, counts = self._asked(tokens)
        total = sum(self._starts[t + 1] - self._starts[t] for t in ids)
        if k <= 0 or not ids:
            return total, 0
        if self._compiled():
            return total, self._compiled_search(ids, counts, k)[2]
        return total, self._candidates(self._by_bound(ids, counts), k)[3]

    def _compiled(self) -> bool:
        """Whether the compiled search is loaded (it tells a paragraph it has not seen by its score
        being 0, which holds because every idf, and so every term's score, is above 0)."""
        return _kernel is not None

    def _compiled_search(self, ids: list[int], counts: list[int], k: int
                         ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], int]:
        """(paragraphs, scores) best first, with -1 in unfilled slots, and the postings read."""
        assert _kernel is not None
        docs, values, scanned = _kernel.top_k(
            self.offsets, self.doc_ids, self.tfs, self.norms, self.scales, self.bounds,
            np.array(ids, dtype=np.int64), np.array(counts, dtype=np.int64),
            k, self._scan_always, FLOOR_LOOKUPS, _SLACK, self._buffer(), self._buffer("touched", np.int32))
        return docs, values, int(scanned)

    def _candidates(self, terms: list[tuple[int, int]], k: int
                    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32], int, int]:
        """Paragraphs that can be in the top k with their exact scores, how many times a paragraph
        may repeat among them, and the postings scanned.

        Scores accumulate in a reusable per-thread buffer, so the cost follows the postings
        read, not the corpus size; the buffer is cleared at the touched positions only.
        """
        bounds = [self._bounds_list[t] * w for t, w in terms]
        # Pruning needs each paragraph listed once: with every score positive, a paragraph is new
        # exactly when its score so far is 0. Without a long list to skip, every list is simply added up.
        lengths = [self._starts[t + 1] - self._starts[t] for t, _ in terms]
        prune = max(lengths[1:], default=0) > self._scan_always
        unread = sum(bounds)
        scores = self._buffer()
        parts: list[npt.NDArray[np.intp]] = []
        threshold = -math.inf
        read = scanned = touched = 0
        try:
            for (term, weight), length in zip(terms, lengths):
                if prune and parts and length > self._scan_always and length * CHECK_RATIO > touched:
                    threshold = max(threshold, self._floor(scores, _joined(parts), terms[read:], k))
                    if unread * (1 + _SLACK) + _SLACK < threshold:
                        break
                docs, impacts = self._scored(term)
                if weight != 1:
                    impacts = impacts * np.float32(weight)
                if prune:
                    before = scores.take(docs)
                    scores[docs] = before + impacts
                    parts.append(docs[before == 0])
                    touched += len(parts[-1])
                else:
                    scores[docs] += impacts
                    parts.append(docs)
                scanned += length
                unread -= bounds[read]
                read += 1
        finally:
            candidates = _joined(parts) if parts else np.empty(0, dtype=np.intp)
            values = scores.take(candidates)
            scores[candidates] = 0
        if not prune:
            return candidates, values, len(parts), scanned
        # The unread terms are looked up for the candidates still in reach, highest bound first;
        # after each, what is left to add shrinks and the floor rises, so candidates drop out.
        for position in range(read, len(terms)):
            reach = values + np.float32(unread * (1 + _SLACK) + _SLACK) >= threshold
            candidates, values = candidates[reach], values[reach]
            term, weight = terms[position]
            values = values + self._lookup(term, weight, candidates)
            unread -= bounds[position]
            if len(values) > k:
                threshold = max(threshold, float(np.partition(values, len(values) - k)[len(values) - k]))
        return candidates, values, 1, scanned

    def _floor(self, scores: npt.NDArray[np.float32], touched: npt.NDArray[np.intp],
               unread: list[tuple[int, int]], k: int) -> float:
        """A score the final k-th best is sure to reach: the lowest score of the k paragraphs leading
        so far, with the next few unread terms' scores looked up (k real paragraphs score at
        least that much). Far higher than the k-th best partial score, so lists are skipped sooner."""
        if len(touched) < k:
            return -math.inf
        partial = scores.take(touched)
        leaders = np.argpartition(partial, len(partial) - k)[len(partial) - k:]
        full = partial[leaders]
        for term, weight in unread[:FLOOR_LOOKUPS]:  # each raises the floor; all would cost too much
            full = full + self._lookup(term, weight, touched[leaders])
        return float(full.min())

    def _lookup(self, term: int, weight: int, candidates: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        """The term's score in each candidate paragraph (0 where absent).

        Few candidates: a binary search each (~70 ns), scoring only the postings found, so a
        long list that pruning skipped is never scored as a whole. Many: writing the term's
        scores into a spare buffer and reading the candidates' back costs ~4 ns a posting,
        which is cheaper once candidates × LOOKUP_RATIO exceed the postings.
        """
        start, end = self._starts[term], self._starts[term + 1]
        if len(candidates) * LOOKUP_RATIO > end - start:
            docs, impacts = self._scored(term)
            spare = self._buffer("spare")
            spare[docs] = impacts
            out = spare.take(candidates)
            spare[docs] = 0
            return out if weight == 1 else out * np.float32(weight)
        docs = self.doc_ids[start:end]
        wanted = candidates.astype(docs.dtype)  # same dtype: searchsorted would copy the list otherwise
        where = np.minimum(np.searchsorted(docs, wanted), len(docs) - 1)
        found = docs.take(where) == wanted
        at = where[found] + start
        tf = self.tfs.take(at).astype(np.float32)
        out = np.zeros(len(candidates), dtype=np.float32)
        out[found] = self.scales[term] * (tf / (tf + self.norms.take(candidates[found])))
        return out if weight == 1 else out * np.float32(weight)

    def _buffer(self, name: str = "scores", dtype: type = np.float32) -> npt.NDArray:  # type: ignore[type-arg]
        """A zeroed array, one per paragraph, for this thread (handlers search from several threads at once)."""
        buffer: npt.NDArray | None = getattr(self._local, name, None)  # type: ignore[type-arg]
        if buffer is None or len(buffer) != self.n_docs:
            buffer = np.zeros(self.n_docs, dtype=dtype)
            setattr(self._local, name, buffer)
        return buffer

    def save(self, folder: Path) -> None:
        """Write the index; the sorted terms are one line each (tokens never hold a line break)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("offsets", "doc_ids", "tfs", "lengths", "bounds"):
            np.save(folder / f"{name}.npy", getattr(self, name))
        if any("\n" in term for term in self.terms):
            raise ValueError("a term holds a line break")
        (folder / "terms.txt").write_text("\n".join(self.terms), encoding="utf-8")
        (folder / "params.json").write_text(json.dumps(vars(self.params)), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, params: BM25Params = BM25Params()) -> BM25Index:
        """Map the arrays from disk (nothing is read until a query needs it).

        Score bounds depend on k1 and b; when those changed since the save they are
        recomputed (one pass over the postings) and saved again.
        """
        try:
            text = (folder / "terms.txt").read_text(encoding="utf-8")
            terms = text.split("\n") if text else []
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r")
                      for name in ("offsets", "doc_ids", "tfs", "lengths", "bounds")}
            saved = BM25Params(**json.loads((folder / "params.json").read_text(encoding="utf-8")))
        except Exception as error:  # noqa: BLE001 - any unreadable piece means: rebuild
            raise IndexCacheError(f"{folder}: unreadable index cache ({error})") from None
        offsets, doc_ids = arrays["offsets"], arrays["doc_ids"]
        if (len(offsets) != len(terms) + 1 or len(doc_ids) != len(arrays["tfs"])
                or any(a >= b for a, b in zip(terms, terms[1:]))
                or len(arrays["bounds"]) != len(terms) or (len(offsets) and offsets[-1] != len(doc_ids))):
            raise IndexCacheError(f"{folder}: index cache arrays do not fit together")
        index = cls(terms, offsets, doc_ids, arrays["tfs"], arrays["lengths"], params,
                    bounds=arrays["bounds"] if saved == params else None)
        if saved != params:
            _save_bounds(folder, index)
        return index


def _save_bounds(folder: Path, index: BM25Index) -> None:
    """Keep recomputed bounds for the next start; a read-only cache just recomputes them again."""
    try:
        np.save(folder / "bounds.tmp.npy", index.bounds)
        os.replace(folder / "bounds.tmp.npy", folder / "bounds.npy")
        (folder / "params.json").write_text(json.dumps(vars(index.params)), encoding="utf-8")
    except OSError:
        pass


def _joined(parts: list[npt.NDArray[np.intp]]) -> npt.NDArray[np.intp]:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _top(candidates: npt.NDArray[np.intp], values: npt.NDArray[np.float32], k: int,
         repeats: int) -> list[Hit]:
    """The k best positive scores, ties to the earlier paragraph.

    When the lists were simply added up, a paragraph appears once per term it matches (up to
    ``repeats`` times): k × repeats picks then still cover k distinct ones.
    """
    wanted = min(len(candidates), k * repeats)
    if wanted < len(candidates):
        floor = np.partition(values, len(values) - wanted)[len(values) - wanted]
        keep = values >= floor
        candidates, values = candidates[keep], values[keep]
    order = np.lexsort((candidates, -values))
    hits: list[Hit] = []
    seen: set[int] = set()
    for doc, value in zip(candidates[order].tolist(), values[order].tolist()):
        if value > 0 and doc not in seen:
            seen.add(doc)
            hits.append(Hit(doc, value))
            if len(hits) == k:
                break
    return hits


def lucene_idf(df: npt.NDArray[np.int64], n_docs: int) -> npt.NDArray[np.float64]:
    """Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)): positive for every term at any corpus size."""
    df = np.asarray(df, dtype=np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))
