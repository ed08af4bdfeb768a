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

How the postings become a question's best paragraphs is the index's ``scorer``, an object
handed to it: ``EXHAUSTIVE`` (here: every posting of every question term scored with numpy,
short and obviously right, the oracle of the tests and the search wherever numba is not
loaded) or the compiled MaxScore (``bot.search.compiled``), which the bot switches to once
numba has compiled it. Both give the same hits, float for float.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple, Protocol

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


class Terms(NamedTuple):
    """A question's terms as the index knows them, resolved once: the ids of the tokens some
    paragraph holds and how many times each was asked (rank-bm25 adds a term's score once per
    occurrence in the question), highest score bound first, ties by id: the order scores are
    added in, so that every scorer sums the same floats in the same order."""

    ids: tuple[int, ...]
    times: tuple[int, ...]


class Scorer(Protocol):
    """How an index's postings become the k best paragraphs for a question's terms."""

    def top_k(self, index: BM25Index, terms: Terms, k: int) -> tuple[list[Hit], int]:
        """The k best paragraphs with a score above 0, best first, ties to the earlier paragraph;
        and how many postings were read to find them."""
        ...


class SearchBackend(Protocol):
    """What the rest of articlebot needs from a search engine: tokens in, scored paragraph numbers
    out, and enough about each term to weigh a question. ``BM25Index`` is one; an engine on
    another machine (OpenSearch, tantivy behind a service) would be another, numbering the
    paragraphs as the library does."""

    def search(self, tokens: Sequence[str], k: int) -> list[Hit]: ...

    def idf(self, token: str) -> float: ...

    def knows(self, token: str) -> bool: ...

    def holds(self, token: str, paragraph: int) -> bool: ...


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
        self._pending.append(self._ids(encoded.terms)[encoded.ids])
        self._pending_lengths.append(encoded.lengths)
        self._pending_tokens += len(encoded.ids)
        self.n_docs += len(encoded.lengths)
        if self._pending_tokens >= BLOCK_TOKENS:
            self._flush()
        return first

    def _ids(self, terms: Sequence[str]) -> npt.NDArray[np.int32]:
        """The terms' ids, new terms numbered as they come: looked up in one ``map`` (most of a file's
        terms are known after the first few hundred files), only the new ones one by one."""
        vocabulary = self.vocabulary
        ids = list(map(vocabulary.get, terms))
        if None in ids:
            for i, found in enumerate(ids):
                if found is None:
                    ids[i] = vocabulary.setdefault(terms[i], len(vocabulary))
        return np.asarray(ids, dtype=np.int32)

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

    def finish(self, params: BM25Params = BM25Params(), scorer: Scorer | None = None) -> BM25Index:
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
        return BM25Index([terms[i] for i in ranked], offsets, doc_ids, tfs, lengths.astype(np.int32), params,
                         scorer=scorer)


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
    """Term-frequency postings by term, with rank-bm25's BM25Okapi scoring; ``scorer`` searches them."""

    def __init__(self, terms: list[str], offsets: npt.NDArray[np.int64],
                 doc_ids: npt.NDArray[np.int32], tfs: npt.NDArray[np.uint16],
                 lengths: npt.NDArray[np.int32], params: BM25Params = BM25Params(),
                 bounds: npt.NDArray[np.float32] | None = None, scorer: Scorer | None = None) -> None:
        self.terms = terms
        """Every term, sorted; a term's id is its position."""
        # Plain ndarray views of the mapped files: np.memmap's Python-level slicing costs ~2 µs a slice.
        self.offsets, self.doc_ids, self.tfs, self.lengths = (
            np.asarray(a).view(np.ndarray) for a in (offsets, doc_ids, tfs, lengths))
        self.params = params
        self.scorer: Scorer = scorer or EXHAUSTIVE
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
        self._local = threading.local()

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], params: BM25Params = BM25Params(),
              scorer: Scorer | None = None) -> BM25Index:
        """An index of token lists, one per paragraph; an empty corpus gives an index that finds nothing."""
        builder = IndexBuilder()
        for start in range(0, len(documents), 4096):  # bounded lists of Python ints at a time
            builder.add_documents(documents[start:start + 4096])
        return builder.finish(params, scorer)

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

    # --- terms ------------------------------------------------------------------------------

    def term(self, token: str) -> int | None:
        """The token's term id if some paragraph holds it (bisection: ~1 µs, and no dict of
        300k terms to build at every start of a one-shot command)."""
        term = bisect_left(self.terms, token)
        if term < len(self.terms) and self.terms[term] == token and self._starts[term + 1] > self._starts[term]:
            return term
        return None

    def knows(self, token: str) -> bool:
        return self.term(token) is not None

    def idf(self, token: str) -> float:
        """The term's idf; a term no paragraph holds weighs as much as one held by a single paragraph.

        It is at least that informative, and no more can be known of it: giving it the idf of a
        term in no paragraph at all would, in a folder of six paragraphs, make one unknown word
        of a question (开门 against an article that says 开张) outweigh every word the article holds.
        """
        term = self.term(token)
        if term is None:
            return math.log1p((max(self.n_docs, 1) - 0.5) / 1.5)
        return float(self.idfs[term])

    def terms_of(self, tokens: Sequence[str]) -> Terms:
        """The question's terms, looked up once (see ``Terms``)."""
        asked: dict[int, int] = {}
        for token, times in Counter(tokens).items():
            term = self.term(token)
            if term is not None:
                asked[term] = times
        return self.ordered(asked)

    def ordered(self, asked: Mapping[int, int]) -> Terms:
        """Terms already looked up (id → times asked), in the order scores are summed (see ``Terms``)."""
        bounds = self._bounds_list
        ordered = sorted(asked.items(), key=lambda tw: (-bounds[tw[0]] * tw[1], tw[0]))
        return Terms(tuple(t for t, _ in ordered), tuple(w for _, w in ordered))

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        """Term → id, for building an index on top of this one."""
        return {term: i for i, term in enumerate(self.terms)}

    # --- searching -----------------------------------------------------------------------------

    def search(self, tokens: Sequence[str] | Terms, k: int) -> list[Hit]:
        """The k best paragraphs with a positive score, best first; ties go to the earlier paragraph."""
        terms = tokens if isinstance(tokens, Terms) else self.terms_of(tokens)
        if k <= 0 or not self.n_docs or not terms.ids:
            return []
        return self.scorer.top_k(self, terms, k)[0]

    def postings_read(self, tokens: Sequence[str], k: int) -> tuple[int, int]:
        """(postings of the question's terms, postings its top-k search read): what pruning saves."""
        terms = self.terms_of(tokens)
        total = sum(self._starts[t + 1] - self._starts[t] for t in terms.ids)
        if k <= 0 or not terms.ids:
            return total, 0
        return total, self.scorer.top_k(self, terms, k)[1]

    def scores(self, tokens: Sequence[str]) -> npt.NDArray[np.float32]:
        """Every paragraph's score, like rank-bm25's ``get_scores`` (summed in the order search sums them)."""
        scores = np.zeros(self.n_docs, dtype=np.float32)
        terms = self.terms_of(tokens)
        for term, times in zip(terms.ids, terms.times):
            docs, impacts = self.impacts(term, times)
            scores[docs] += impacts
        return scores

    def impacts(self, term: int, times: int = 1) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """The term's paragraphs and its score in each, times how often it was asked (float32, in
        the order of operations the compiled search uses)."""
        start, end = self._starts[term], self._starts[term + 1]
        docs = self.doc_ids[start:end]
        tf = self.tfs[start:end].astype(np.float32)
        impacts = self.scales[term] * (tf / (tf + self.norms[docs]))
        return docs, impacts if times == 1 else impacts * np.float32(times)

    def matched_weight(self, weights: Mapping[int, float], paragraphs: Sequence[int]) -> list[float]:
        """For each paragraph, the summed weight of the terms (by id) it holds: how much of a
        question a passage matches, the measure of the relevance floor and of a name's mentions."""
        terms = list(weights)
        held = self.holding(terms, paragraphs)
        return (np.asarray([weights[t] for t in terms], dtype=np.float64) @ held).tolist() if terms else \
            [0.0] * len(paragraphs)

    @cached_property
    def frequencies(self) -> npt.NDArray[np.int64]:
        """Each term's document frequency: how many paragraphs hold it."""
        return np.diff(self.offsets)

    def together(self, first: int, second: int) -> npt.NDArray[np.int32]:
        """The paragraphs that hold both terms (the shorter postings list searched in the longer)."""
        small, large = sorted((self.paragraphs_of(first), self.paragraphs_of(second)), key=len)
        if not len(small):
            return small
        where = np.minimum(np.searchsorted(large, small), len(large) - 1)
        return small[large[where] == small]

    def paragraphs_of(self, term: int) -> npt.NDArray[np.int32]:
        """The paragraphs that hold the term, in order."""
        return self.doc_ids[self._starts[term]:self._starts[term + 1]]

    def holds(self, token: str, paragraph: int) -> bool:
        """Whether the paragraph (with its heading and title) holds the token: one binary search."""
        term = self.term(token)
        return term is not None and bool(self.holding([term], [paragraph])[0, 0])

    def holding(self, terms: Sequence[int], paragraphs: Sequence[int]) -> npt.NDArray[np.bool_]:
        """Which of the paragraphs hold each term, as a (terms × paragraphs) table: one binary search
        a pair, so nothing is tokenized again to tell what a passage matched."""
        ids = np.asarray(paragraphs, dtype=np.int32)
        table = np.zeros((len(terms), len(ids)), dtype=bool)
        for row, term in enumerate(terms):
            docs = self.doc_ids[self._starts[term]:self._starts[term + 1]]
            if len(docs) and len(ids):
                where = np.minimum(np.searchsorted(docs, ids), len(docs) - 1)
                table[row] = docs[where] == ids
        return table

    def holding_within(self, terms: Sequence[int], starts: Sequence[int], ends: Sequence[int]) -> npt.NDArray[np.bool_]:
        """Which runs of paragraphs [start, end) hold each term somewhere, as a (terms × runs) table:
        what a whole article (its paragraphs are one run) holds of a question, one binary search a pair."""
        lo, hi = np.asarray(starts, dtype=np.int32), np.asarray(ends, dtype=np.int32)
        table = np.zeros((len(terms), len(lo)), dtype=bool)
        for row, term in enumerate(terms):
            docs = self.doc_ids[self._starts[term]:self._starts[term + 1]]
            if len(docs) and len(lo):
                where = np.searchsorted(docs, lo)
                table[row] = (where < len(docs)) & (docs[np.minimum(where, len(docs) - 1)] < hi)
        return table

    def scratch(self, name: str = "scores", dtype: type = np.float32) -> npt.NDArray:  # type: ignore[type-arg]
        """A zeroed array, one per paragraph, for this thread: scorers accumulate in it and leave it
        zeroed (handlers search from several threads at once)."""
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
    def load(cls, folder: Path, params: BM25Params = BM25Params(), scorer: Scorer | None = None) -> BM25Index:
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
                    bounds=arrays["bounds"] if saved == params else None, scorer=scorer)
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


class Exhaustive:
    """Every posting of every question term scored and summed with numpy, then the k best.

    Short enough to be obviously right: the oracle the compiled search is tested against, and
    the search of one-shot commands (``articlebot ask`` cannot afford numba's start) and of
    machines without numba. It reads all of the terms' postings: ~10 ns each.
    """

    def top_k(self, index: BM25Index, terms: Terms, k: int) -> tuple[list[Hit], int]:
        scores = index.scratch()
        read = 0
        for term, times in zip(terms.ids, terms.times):
            docs, impacts = index.impacts(term, times)
            scores[docs] += impacts
            read += len(docs)
        paragraphs = np.flatnonzero(scores)  # every score is above 0: these are the paragraphs touched
        values = scores[paragraphs]
        scores[paragraphs] = 0
        if len(values) > k:
            keep = np.argpartition(-values, k - 1)[:k]
            floor = values[keep].min()
            keep = np.flatnonzero(values >= floor)  # every tie of the k-th, so ties go to the earlier paragraph
            paragraphs, values = paragraphs[keep], values[keep]
        order = np.lexsort((paragraphs, -values))[:k]
        return [Hit(int(d), float(v)) for d, v in zip(paragraphs[order], values[order]) if v > 0], read


EXHAUSTIVE = Exhaustive()


def lucene_idf(df: npt.NDArray[np.int64], n_docs: int) -> npt.NDArray[np.float64]:
    """Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)): positive for every term at any corpus size."""
    df = np.asarray(df, dtype=np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))
