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

import hashlib
import json
import logging
import math
import os
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple, Protocol, TypeVar

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
    """The tokens spelled here: the file's tokens, or (``source`` set) those of them its worker had not
    spelled before in this build. Each once, but for a two-character word and the character bigram
    spelled alike, which a worker numbers apart (words by their text, bigrams by their code points)."""
    ids: npt.NDArray[np.int32]
    """Every token occurrence as a position in ``terms``, paragraph after paragraph; with a ``source``,
    a position in everything that source has spelled (``terms[0]`` is at ``first``)."""
    lengths: npt.NDArray[np.int32]
    """Tokens per paragraph."""
    source: int | None = None
    """Which worker's numbering ``ids`` use (None: the file's own). A worker spells each term to the
    parent once, so the parent maps its numbers with numpy instead of looking up every file's terms."""
    first: int = 0
    """How many terms the source had spelled before this file."""


def encode(documents: Sequence[Sequence[str]]) -> EncodedTokens:
    positions: dict[str, int] = {}
    ids = [positions.setdefault(token, len(positions)) for doc in documents for token in doc]
    return EncodedTokens(tuple(positions), np.asarray(ids, dtype=np.int32),
                         np.fromiter((len(doc) for doc in documents), dtype=np.int32, count=len(documents)))


@dataclass(frozen=True)
class Collection:
    """BM25's counts over a whole collection, for an index that holds only part of it (a segment).

    A segment scored with these gives each of its paragraphs exactly the score it would have in
    one index of the whole collection: the idf and the length norm are the collection's.
    """

    paragraphs: int
    """N: the paragraphs of the whole collection (deleted ones not counted)."""
    average_length: float
    frequencies: npt.NDArray[np.int64]
    """Each of the segment's terms' document frequency in the whole collection."""
    deleted: npt.NDArray[np.int64]
    """The segment's paragraphs that are no longer part of the collection, sorted: they never score."""


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

    def __init__(self, base: BM25Index | None = None, runs: Sequence[tuple[int, bool]] = (),
                 keep: npt.NDArray[np.bool_] | None = None) -> None:
        """``runs`` describes the base's paragraphs in order as (how many, keep them?) pairs,
        e.g. one per article; paragraphs of runs not kept are dropped. ``keep``, one flag per
        paragraph, says the same where runs are not at hand."""
        self.vocabulary: dict[str, int] = dict(base.vocabulary) if base is not None else {}
        self._blocks: list[_Block] = []
        self._lengths: list[npt.NDArray[np.int32]] = []
        self._pending: list[npt.NDArray[np.int32]] = []
        self._pending_lengths: list[npt.NDArray[np.int32]] = []
        self._pending_tokens = 0
        self._sources: dict[int, _Growing] = {}
        self.n_docs = 0
        if base is not None:
            if keep is None and len(runs):
                keep = np.repeat(np.fromiter((k for _, k in runs), dtype=bool, count=len(runs)),
                                 np.fromiter((n for n, _ in runs), dtype=np.int64, count=len(runs)))
            self._keep_from(base, keep)

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
        self._pending.append(self._numbered(encoded)[encoded.ids])
        self._pending_lengths.append(encoded.lengths)
        self._pending_tokens += len(encoded.ids)
        self.n_docs += len(encoded.lengths)
        if self._pending_tokens >= BLOCK_TOKENS:
            self._flush()
        return first

    def _numbered(self, encoded: EncodedTokens) -> npt.NDArray[np.int32]:
        """The builder's id of every term ``encoded.ids`` can name. A worker's terms arrive in the
        order it spelled them (its results come back in the order of its jobs), so each source's
        numbers are kept as one growing array and only its new terms are looked up."""
        if encoded.source is None:
            return self._ids(encoded.terms)
        known = self._sources.setdefault(encoded.source, _Growing())
        if known.size != encoded.first:
            raise ValueError(f"source {encoded.source} spelled {known.size} terms so far, "
                             f"this file says {encoded.first}: its results arrived out of order")
        return known.extend(self._ids(encoded.terms))

    def _ids(self, terms: Sequence[str]) -> npt.NDArray[np.int32]:
        return numbered(self.vocabulary, terms)

    def add_index(self, index: BM25Index) -> int:
        """Append every paragraph of another index (its own terms, numbered its own way) as one block:
        how a delta joins its base when the two are merged. Returns the number of its first paragraph."""
        self._flush()
        first = self.n_docs
        ids = self._ids(index.terms).astype(np.int64)
        counts = np.diff(index.offsets)
        order = np.argsort(ids, kind="stable")  # a block holds its postings by the builder's term ids
        lens = counts[order]
        starts = np.asarray(index.offsets[:-1])[order]
        within = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
        where = np.repeat(starts, lens) + within
        by_term = np.zeros(len(self.vocabulary), dtype=np.int64)
        by_term[ids] = counts
        self._blocks.append(_Block(by_term, (np.asarray(index.doc_ids)[where] + first).astype(np.int32),
                                   np.asarray(index.tfs)[where]))
        self._lengths.append(np.asarray(index.lengths, dtype=np.int32))
        self.n_docs += index.n_docs
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
        # (term, paragraph) as one number, sorted in place: numpy's vectorised sort and a few passes
        # over memory, no division, no np.unique (which costs 3x the sort itself here).
        keys = terms.astype(np.int64)
        keys <<= 32
        keys |= np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)  # int32: half the memory to fill
        keys.sort()
        new = np.empty(len(keys), dtype=bool)
        new[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        del new
        tf = np.empty(len(starts), dtype=np.int64)
        np.subtract(starts[1:], starts[:-1], out=tf[:-1])
        tf[-1:] = len(keys) - starts[-1:]
        keys = keys[starts]
        self._blocks.append(_Block(np.bincount(keys >> 32, minlength=len(self.vocabulary)).astype(np.int64),
                                   ((keys & 0xFFFFFFFF) + first).astype(np.int32),
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


def merged(base: BM25Index, deleted: npt.NDArray[np.int64], delta: BM25Index, params: BM25Params) -> BM25Index:
    """One index of a base without its ``deleted`` paragraphs and then a delta's: numbered as the
    collection is (the base's paragraphs that stay, then the delta's)."""
    keep = np.ones(base.n_docs, dtype=bool)
    keep[deleted] = False
    builder = IndexBuilder(base, keep=keep)
    builder.add_index(delta)
    return builder.finish(params)


K = TypeVar("K", bound=Hashable)
"""A vocabulary's key: a term, or a bigram's code points."""


def numbered(vocabulary: dict[K, int], keys: Sequence[K], new: Callable[[K], int] | None = None) -> npt.NDArray[np.int32]:
    """The keys' ids in ``vocabulary``, new keys added as they come and numbered by ``new`` (by default
    the vocabulary's next number): looked up in one ``map`` (most of a file's terms are known after
    the first few hundred files), and the few new ones found by ``list.index``, not by a Python loop
    over every term of the file."""
    ids = list(map(vocabulary.get, keys))
    at = -1
    while True:
        try:
            at = ids.index(None, at + 1)
        except ValueError:
            return np.asarray(ids, dtype=np.int32)
        found = vocabulary.get(keys[at])  # a key met twice in ``keys`` is numbered once
        if found is None:
            found = vocabulary[keys[at]] = new(keys[at]) if new is not None else len(vocabulary)
        ids[at] = found


class _Growing:
    """An int32 array appended to in place (capacity doubled as it fills)."""

    def __init__(self) -> None:
        self._values = np.zeros(1024, dtype=np.int32)
        self.size = 0

    def extend(self, values: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        """Append ``values``; returns everything held so far (a view)."""
        end = self.size + len(values)
        if end > len(self._values):
            grown = np.zeros(max(end, 2 * len(self._values)), dtype=np.int32)
            grown[:self.size] = self._values[:self.size]
            self._values = grown
        self._values[self.size:end] = values
        self.size = end
        return self._values[:end]


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
                 bounds: npt.NDArray[np.float32] | None = None, scorer: Scorer | None = None,
                 collection: Collection | None = None) -> None:
        """``collection`` makes this a segment of a larger collection (see ``Collection``): its deleted
        paragraphs get a NaN length norm, so that their every score is NaN, which no scorer keeps."""
        self.terms = terms
        """Every term, sorted; a term's id is its position."""
        # Plain ndarray views of the mapped files: np.memmap's Python-level slicing costs ~2 µs a slice.
        self.offsets, self.doc_ids, self.tfs, self.lengths = (
            np.asarray(a).view(np.ndarray) for a in (offsets, doc_ids, tfs, lengths))
        self.params = params
        self.scorer: Scorer = scorer or EXHAUSTIVE
        self.n_docs = len(lengths)
        """Paragraphs numbered in this index (a segment's deleted ones included)."""
        if collection is None:
            self.idfs = lucene_idf(np.diff(offsets), self.n_docs)
            avgdl = average_length(self.lengths)
        else:
            self.idfs = lucene_idf(collection.frequencies, collection.paragraphs)
            avgdl = collection.average_length
        self.norms = length_norms(self.lengths, avgdl, params)
        self.has_deleted = collection is not None and len(collection.deleted) > 0
        if collection is not None and self.has_deleted:
            self.norms[collection.deleted] = np.nan
        self.scales = (self.idfs * (params.k1 + 1)).astype(np.float32)
        self.bounds = self._bounds() if bounds is None else np.asarray(bounds).view(np.ndarray)
        for array in (self.offsets, self.doc_ids, self.tfs, self.lengths, self.norms, self.scales, self.bounds):
            array.flags.writeable = False  # built or loaded alike: the compiled search is compiled for one kind
        self._local = threading.local()

    # Python lists of what every query looks up per term: faster than indexing arrays one by one. Made
    # when first needed: a base serving inside a ``Segmented`` (or updated from) never needs its own.
    @cached_property
    def _starts(self) -> list[int]:
        return self.offsets.tolist()  # type: ignore[no-any-return]

    @cached_property
    def _bounds_list(self) -> list[float]:
        return self.bounds.tolist()  # type: ignore[no-any-return]

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
            best[present] = np.fmax.reduceat(ratio, self.offsets[present] - begin)  # deleted ones are NaN
        return np.nan_to_num(best, nan=0.0) * self.scales

    # --- terms ------------------------------------------------------------------------------

    def term(self, token: str) -> int | None:
        """The token's term id if some paragraph holds it."""
        lookup = self.__dict__.get("_lookup")
        if lookup is not None:
            found: int | None = lookup.get(token)
            return found if found is None or found >= 0 else None
        term = self.position(token)
        return term if term is not None and self._starts[term + 1] > self._starts[term] else None

    def position(self, token: str) -> int | None:
        """Where the token is in ``terms`` (held by a paragraph or not): by bisection (~1.5 µs, no dict
        of 300k terms to build at every start of a one-shot command) until ``warm`` built the dict."""
        lookup = self.__dict__.get("_lookup")
        if lookup is not None:
            found: int | None = lookup.get(token)
            return found if found is None or found >= 0 else -1 - found
        term = bisect_left(self.terms, token)
        return term if term < len(self.terms) and self.terms[term] == token else None

    def warm(self) -> None:
        """Build the term dict now: what a process that serves many questions does once (in the
        background as it starts). Bisecting a long question's terms costs ~40 µs, and checking each
        one's postings more, where one dict lookup answers both: a term no paragraph holds maps to
        ``-1 - id``."""
        if "_lookup" not in self.__dict__:
            held = np.diff(self.offsets) > 0
            self._lookup = {term: i if live else -1 - i
                            for i, (term, live) in enumerate(zip(self.terms, held.tolist()))}

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
        counted = Counter(tokens)
        return self.ordered({term: times for term, times in zip(map(self.term, counted), counted.values())
                             if term is not None})

    def ordered(self, asked: Mapping[int, int]) -> Terms:
        """Terms already looked up (id → times asked), in the order scores are summed (see ``Terms``):
        highest bound × times first, ties by id (tuples compared in C, no key function)."""
        bounds = self._bounds_list
        ranked = sorted([(-bounds[term] * times, term, times) for term, times in asked.items()])
        return Terms(tuple(term for _, term, _ in ranked), tuple(times for _, _, times in ranked))

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
        """A zeroed array, one per paragraph and one more, for this thread: scorers accumulate in it
        and leave it zeroed (handlers search from several threads at once)."""
        buffer: npt.NDArray | None = getattr(self._local, name, None)  # type: ignore[type-arg]
        if buffer is None or len(buffer) != self.n_docs + 1:
            buffer = np.zeros(self.n_docs + 1, dtype=dtype)
            setattr(self._local, name, buffer)
        return buffer

    def save(self, folder: Path) -> None:
        """Write the index; the sorted terms are one line each (tokens never hold a line break)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("offsets", "doc_ids", "tfs", "lengths", "bounds"):
            np.save(folder / f"{name}.npy", getattr(self, name))
        if any("\n" in term for term in self.terms):
            raise ValueError("a term holds a line break")
        text = "\n".join(self.terms)
        (folder / "terms.txt").write_text(text, encoding="utf-8")
        (folder / "terms.digest").write_text(_digest(text), encoding="utf-8")
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
                or (_saved_digest(folder) != _digest(text) and any(a >= b for a, b in zip(terms, terms[1:])))
                or len(arrays["bounds"]) != len(terms) or (len(offsets) and offsets[-1] != len(doc_ids))):
            raise IndexCacheError(f"{folder}: index cache arrays do not fit together")
        index = cls(terms, offsets, doc_ids, arrays["tfs"], arrays["lengths"], params,
                    bounds=arrays["bounds"] if saved == params else None, scorer=scorer)
        if saved != params:
            _save_bounds(folder, index)
        return index


def _digest(text: str) -> str:
    """A fingerprint of the terms as saved (in sorted order): checking it costs 5 ms at 300k terms, checking
    their order one pair at a time 15 ms, and every start of a one-shot command loads them."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _saved_digest(folder: Path) -> str | None:
    try:
        return (folder / "terms.digest").read_text(encoding="utf-8")
    except OSError:
        return None


def _save_bounds(folder: Path, index: BM25Index) -> None:
    """Keep recomputed bounds for the next start; a read-only cache just recomputes them again."""
    try:
        np.save(folder / "bounds.tmp.npy", index.bounds)
        os.replace(folder / "bounds.tmp.npy", folder / "bounds.npy")
        (folder / "params.json").write_text(json.dumps(vars(index.params)), encoding="utf-8")
    except OSError:
        pass


BOUND_SLACK = 1e-4
"""Relative margin on score bounds carried over from a segment's own collection to the whole one."""


class Segmented(BM25Index):
    """An index of a whole collection made of a base index that is never rewritten and a small delta.

    An update after a few files changed then costs what those files cost, not what the collection
    costs: the changed and added files' paragraphs form the delta (a small index of its own), and
    the base's paragraphs of changed or deleted files are deleted (a list of their numbers). Both
    segments are scored with the whole collection's N, avgdl and document frequencies (the base's,
    minus the deleted paragraphs', plus the delta's), so every score is exactly BM25 over the
    collection as one index would give it; a paragraph's terms all lie in one segment, so the k
    best of the collection are the k best of the two segments' k best.

    Paragraphs are numbered as one index of the collection would number them: the base's that are
    not deleted, in order, then the delta's. Terms are numbered as the base numbers them, then the
    terms only the delta holds. Everything else (idf, holding, paragraphs_of, ...) answers as a
    single index of the same paragraphs would.
    """

    def __init__(self, base: BM25Index, delta: BM25Index, deleted: npt.NDArray[np.int64],
                 deleted_frequencies: npt.NDArray[np.int64], base_ids: npt.NDArray[np.int64],
                 scorer: Scorer | None = None) -> None:
        """``base`` and ``delta`` as loaded on their own; ``deleted``: the base's deleted paragraphs,
        sorted; ``deleted_frequencies``: per base term, how many deleted paragraphs hold it;
        ``base_ids``: per delta term, its id in the base (-1 where the base lacks it)."""
        self.source = base
        """The base as loaded on its own (what a later update builds its next delta against)."""
        params = base.params
        deleted = np.asarray(deleted, dtype=np.int64)
        n_base = len(base.terms)
        new = np.flatnonzero(base_ids < 0)
        composite = np.asarray(base_ids, dtype=np.int64).copy()
        composite[new] = n_base + np.arange(len(new))
        self.terms = [*base.terms, *(delta.terms[i] for i in new.tolist())]
        self._new = {delta.terms[i]: n_base + j for j, i in enumerate(new.tolist())}
        frequencies = np.zeros(len(self.terms), dtype=np.int64)
        frequencies[:n_base] = np.diff(base.offsets) - deleted_frequencies
        frequencies[composite] += np.diff(delta.offsets)
        self.__dict__["frequencies"] = frequencies
        self.live_base = base.n_docs - len(deleted)
        """How many of the collection's paragraphs (the first ones) are the base's."""
        self.n_docs = self.live_base + delta.n_docs
        base_total = float(np.sum(base.lengths, dtype=np.float64)) - float(np.sum(base.lengths[deleted], dtype=np.float64))
        total = base_total + float(np.sum(delta.lengths, dtype=np.float64))
        avgdl = total / self.n_docs if self.n_docs and total else 1.0
        self.params = params
        self.scorer = scorer or base.scorer
        self.idfs = lucene_idf(frequencies, self.n_docs)
        self.deleted = deleted
        self.deleted_frequencies = np.asarray(deleted_frequencies, dtype=np.int64)
        scales = (self.idfs[:n_base] * (params.k1 + 1)).astype(np.float32)
        # The base's own bounds, carried over: a term's best ratio tf / (tf + norm) grows at most by
        # the factor avgdl grew by (and not at all if it shrank); deleting paragraphs only lowers it.
        own_avgdl = average_length(base.lengths)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(base.scales > 0, base.bounds / base.scales, 0).astype(np.float64)
        grown = max(1.0, avgdl / own_avgdl) * (1 + BOUND_SLACK)
        bounds = (ratios * grown * scales).astype(np.float32)
        self.base = BM25Index(base.terms, base.offsets, base.doc_ids, base.tfs, base.lengths, params, bounds=bounds,
                              collection=Collection(self.n_docs, avgdl, frequencies[:n_base], deleted))
        self.delta = BM25Index(delta.terms, delta.offsets, delta.doc_ids, delta.tfs, delta.lengths, params,
                               collection=Collection(self.n_docs, avgdl, frequencies[composite],
                                                     np.zeros(0, dtype=np.int64)))
        self._delta_of = np.full(len(self.terms), -1, dtype=np.int64)
        self._delta_of[composite] = np.arange(len(composite))
        self._n_base_terms = n_base
        self.lengths = np.concatenate((np.delete(np.asarray(base.lengths), deleted), delta.lengths)).astype(np.int32)
        combined = np.zeros(len(self.terms), dtype=np.float32)
        combined[:n_base] = self.base.bounds
        combined[composite] = np.maximum(combined[composite], self.delta.bounds)
        self.bounds = combined
        self.__dict__["_bounds_list"] = combined.tolist()
        self._local = threading.local()

    @cached_property
    def _live(self) -> npt.NDArray[np.int64]:
        """The base's number of each of the collection's first ``live_base`` paragraphs."""
        return np.delete(np.arange(self.base.n_docs, dtype=np.int64), self.deleted)

    def base_numbers(self, paragraphs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The base's numbers of some of the collection's first ``live_base`` paragraphs."""
        return self._live[paragraphs]

    @cached_property
    def _deleted_list(self) -> list[int]:
        """``deleted`` as a list: a search renumbers its ten hits by bisection, cheaper than numpy's calls."""
        return self.deleted.tolist()  # type: ignore[no-any-return]

    def _from_base(self, docs: npt.NDArray[np.int32]) -> npt.NDArray[np.int64]:
        """The collection's numbers of (not deleted) base paragraphs."""
        return docs - np.searchsorted(self.deleted, docs)

    def _not_deleted(self, docs: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        if not len(self.deleted) or not len(docs):
            return docs
        where = np.minimum(np.searchsorted(self.deleted, docs), len(self.deleted) - 1)
        return docs[self.deleted[where] != docs]

    def term(self, token: str) -> int | None:
        term = self.base.position(token)
        if term is None:
            term = self._new.get(token)
            if term is None:
                return None
        return term if self.frequencies[term] > 0 else None

    def warm(self) -> None:
        self.base.warm()

    def _split(self, terms: Terms) -> tuple[dict[int, int], dict[int, int]]:
        """A question's terms as each segment numbers them (id → times asked)."""
        base: dict[int, int] = {}
        delta: dict[int, int] = {}
        for term, times in zip(terms.ids, terms.times):
            if term < self._n_base_terms:
                base[term] = times
            if self._delta_of[term] >= 0:
                delta[int(self._delta_of[term])] = times
        return base, delta

    def _top_k(self, terms: Terms, k: int) -> tuple[list[Hit], int]:
        base, delta = self._split(terms)
        hits: list[Hit] = []
        read = 0
        if base:
            found, scanned = self.scorer.top_k(self.base, self.base.ordered(base), k)
            deleted = self._deleted_list
            hits += [Hit(h.paragraph - bisect_left(deleted, h.paragraph), h.score) for h in found]
            read += scanned
        if delta:
            found, scanned = self.scorer.top_k(self.delta, self.delta.ordered(delta), k)
            hits += [Hit(self.live_base + h.paragraph, h.score) for h in found]
            read += scanned
        return sorted(hits, key=lambda h: (-h.score, h.paragraph))[:k], read

    def search(self, tokens: Sequence[str] | Terms, k: int) -> list[Hit]:
        terms = tokens if isinstance(tokens, Terms) else self.terms_of(tokens)
        if k <= 0 or not self.n_docs or not terms.ids:
            return []
        return self._top_k(terms, k)[0]

    def postings_read(self, tokens: Sequence[str], k: int) -> tuple[int, int]:
        terms = self.terms_of(tokens)
        base, delta = self._split(terms)
        total = sum(len(self.base.paragraphs_of(t)) for t in base) + sum(len(self.delta.paragraphs_of(t)) for t in delta)
        if k <= 0 or not terms.ids:
            return total, 0
        return total, self._top_k(terms, k)[1]

    def scores(self, tokens: Sequence[str]) -> npt.NDArray[np.float32]:
        base, delta = self._split(self.terms_of(tokens))
        scores = np.zeros(self.n_docs, dtype=np.float32)
        for segment, asked, into in ((self.base, base, self._live), (self.delta, delta, None)):
            if not asked:
                continue
            own = np.zeros(segment.n_docs, dtype=np.float32)
            terms = segment.ordered(asked)
            for term, times in zip(terms.ids, terms.times):
                docs, impacts = segment.impacts(term, times)
                own[docs] += impacts
            if into is None:
                scores[self.live_base:] = own
            else:
                scores[:self.live_base] = own[into]
        return scores

    def impacts(self, term: int, times: int = 1) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        raise NotImplementedError("a segmented index is scored through its segments (search, scores)")

    def paragraphs_of(self, term: int) -> npt.NDArray[np.int32]:
        parts = []
        if term < self._n_base_terms:
            parts.append(self._from_base(self._not_deleted(self.base.paragraphs_of(term))))
        if self._delta_of[term] >= 0:
            parts.append(self.delta.paragraphs_of(int(self._delta_of[term])).astype(np.int64) + self.live_base)
        return np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, dtype=np.int32)

    def holding(self, terms: Sequence[int], paragraphs: Sequence[int]) -> npt.NDArray[np.bool_]:
        ids = np.asarray(paragraphs, dtype=np.int64)
        table = np.zeros((len(terms), len(ids)), dtype=bool)
        in_base = np.flatnonzero(ids < self.live_base)
        in_delta = np.flatnonzero(ids >= self.live_base)
        base_ids = self._live[ids[in_base]]
        delta_ids = ids[in_delta] - self.live_base
        for row, term in enumerate(terms):
            if term < self._n_base_terms and len(in_base):
                table[row, in_base] = self.base.holding([term], base_ids.tolist())[0]
            if self._delta_of[term] >= 0 and len(in_delta):
                table[row, in_delta] = self.delta.holding([int(self._delta_of[term])], delta_ids.tolist())[0]
        return table

    def holding_within(self, terms: Sequence[int], starts: Sequence[int], ends: Sequence[int]) -> npt.NDArray[np.bool_]:
        """One paragraph at a time (``holding``): the runs asked about are articles, a few paragraphs each."""
        table = np.zeros((len(terms), len(starts)), dtype=bool)
        for column, (start, end) in enumerate(zip(starts, ends)):
            if end > start:
                table[:, column] = self.holding(terms, range(start, end)).any(axis=1)
        return table

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        return {term: i for i, term in enumerate(self.terms)}

    def scratch(self, name: str = "scores", dtype: type = np.float32) -> npt.NDArray:  # type: ignore[type-arg]
        raise NotImplementedError("a segmented index is scored through its segments")

    def save(self, folder: Path) -> None:
        raise NotImplementedError("a segmented index is saved as its base and its delta")


def positions_in(index: BM25Index, terms: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each term's id in the index (which must number its terms in sorted order), -1 where it lacks it."""
    found = np.full(len(terms), -1, dtype=np.int64)
    known = index.terms
    for i, term in enumerate(terms):
        at = bisect_left(known, term)
        if at < len(known) and known[at] == term:
            found[i] = at
    return found


def frequencies_in(index: BM25Index, encoded: EncodedTokens) -> npt.NDArray[np.int64] | None:
    """Per term of the index, how many of these paragraphs hold it: what deleting them takes from each
    document frequency. None when the index lacks one of their terms (they are not its paragraphs)."""
    ids = positions_in(index, encoded.terms)
    if (ids < 0).any():
        return None
    paragraph = np.repeat(np.arange(len(encoded.lengths), dtype=np.int64), encoded.lengths)
    held = np.unique(ids[encoded.ids] * max(len(encoded.lengths), 1) + paragraph) // max(len(encoded.lengths), 1)
    return np.bincount(held, minlength=len(index.terms)).astype(np.int64)


DELTA_FILES = ("deleted", "deleted_frequencies", "base_ids")


def save_delta(folder: Path, delta: BM25Index, deleted: npt.NDArray[np.int64],
               deleted_frequencies: npt.NDArray[np.int64], base_ids: npt.NDArray[np.int64]) -> None:
    """A delta segment (see ``Segmented``): its own index, and what it deletes from its base. The
    frequencies are kept sparse: a few hundred terms, not one number per base term."""
    delta.save(folder)
    held = np.flatnonzero(deleted_frequencies)
    np.save(folder / "deleted.npy", np.asarray(deleted, dtype=np.int64))
    np.save(folder / "deleted_frequencies.npy", np.stack((held, deleted_frequencies[held])))
    np.save(folder / "base_ids.npy", np.asarray(base_ids, dtype=np.int64))


def load_segmented(base_folder: Path, delta_folder: Path, params: BM25Params = BM25Params(),
                   scorer: Scorer | None = None) -> Segmented:
    """A base and its delta, as ``save_delta`` left them; IndexCacheError when they do not fit together."""
    base = BM25Index.load(base_folder, params, scorer)
    delta = BM25Index.load(delta_folder, params)
    try:
        deleted, pairs, base_ids = (np.load(delta_folder / f"{name}.npy") for name in DELTA_FILES)
    except Exception as error:  # noqa: BLE001 - any unreadable piece means: rebuild
        raise IndexCacheError(f"{delta_folder}: unreadable delta ({error})") from None
    if (pairs.ndim != 2 or len(pairs) != 2 or len(base_ids) != len(delta.terms)
            or (len(deleted) and (deleted.min() < 0 or deleted.max() >= base.n_docs or (np.diff(deleted) <= 0).any()))
            or (len(pairs[0]) and (pairs[0].min() < 0 or pairs[0].max() >= len(base.terms)))
            or (base_ids >= len(base.terms)).any()):
        raise IndexCacheError(f"{delta_folder}: the delta does not fit its base")
    frequencies = np.zeros(len(base.terms), dtype=np.int64)
    frequencies[pairs[0]] = pairs[1]
    if (frequencies > np.diff(base.offsets)).any():
        raise IndexCacheError(f"{delta_folder}: the delta deletes more than its base holds")
    return Segmented(base, delta, deleted, frequencies, base_ids, scorer)


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
        if index.has_deleted:  # a deleted paragraph's score is NaN
            live = values > 0
            paragraphs, values = paragraphs[live], values[live]
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


def average_length(lengths: npt.NDArray[np.int32]) -> float:
    """avgdl as rank-bm25 computes it; 1 for an index of nothing (no division by zero)."""
    total = float(np.sum(lengths, dtype=np.float64))
    return total / len(lengths) if len(lengths) and total else 1.0


def length_norms(lengths: npt.NDArray[np.int32], avgdl: float, params: BM25Params) -> npt.NDArray[np.float32]:
    """k1 · (1 − b + b · |D| / avgdl) per paragraph: the part of a term's score that depends on its paragraph."""
    return (params.k1 * (1 - params.b + params.b * np.asarray(lengths, dtype=np.float64) / avgdl)).astype(np.float32)
