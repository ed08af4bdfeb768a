"""Tokens → an impact index → hits: BM25 scored like rank-bm25's ``BM25Okapi``, paid for at build time.

rank-bm25's ``get_scores`` walks every paragraph in Python for every query term (127 ms a
query at 55k paragraphs). Here each (term, paragraph) score is computed once at build time
and stored in postings sorted by term, so a query only touches the postings of its own
terms and picks the top k among the paragraphs it touched. The scores are the same numbers
rank-bm25 computes (``tests/test_index.py`` checks them against ``get_scores``), with its
idf floor: terms in over half the paragraphs get ``epsilon`` × the average idf.

This module is the only importer of numpy; another backend (OpenSearch, tantivy) would be
another class with the same ``search`` method.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.errors import IndexCacheError


@dataclass(frozen=True)
class BM25Params:
    """BM25Okapi's knobs, named as rank-bm25 names them."""

    k1: float = 0.9
    b: float = 0.4
    epsilon: float = 0.25


@dataclass(frozen=True)
class Hit:
    """A paragraph (by its number in the index) and its BM25 score for the query."""

    paragraph: int
    score: float


class SearchBackend(Protocol):
    """What the rest of articlebot needs from a search engine."""

    def search(self, tokens: Sequence[str], k: int) -> list[Hit]: ...

    def matched_weight(self, weights: dict[str, float], paragraphs: Sequence[int]) -> list[float]: ...

    def idf(self, token: str) -> float: ...


class ImpactIndex:
    """Postings of precomputed BM25 impacts, grouped by term (CSR layout)."""

    def __init__(self, vocabulary: dict[str, int], offsets: npt.NDArray[np.int64],
                 doc_ids: npt.NDArray[np.int32], impacts: npt.NDArray[np.float32],
                 idfs: npt.NDArray[np.float64], n_docs: int) -> None:
        self.vocabulary = vocabulary
        self.offsets = offsets
        self.doc_ids = doc_ids
        self.impacts = impacts
        self.idfs = idfs
        self.n_docs = n_docs
        self._local = threading.local()

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], params: BM25Params = BM25Params()) -> ImpactIndex:
        """Score every (term, paragraph) pair once; an empty corpus gives an index that finds nothing."""
        vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        lengths = np.fromiter((len(doc) for doc in documents), dtype=np.int64, count=len(documents))
        for doc in documents:
            term_ids.extend(vocabulary.setdefault(token, len(vocabulary)) for token in doc)
        terms = np.asarray(term_ids, dtype=np.int64)
        docs = np.repeat(np.arange(len(documents), dtype=np.int64), lengths)
        return cls.from_postings(vocabulary, terms, docs, lengths, params)

    @classmethod
    def from_postings(cls, vocabulary: dict[str, int], terms: npt.NDArray[np.int64],
                      docs: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
                      params: BM25Params) -> ImpactIndex:
        """Build from one (term id, paragraph) pair per token occurrence."""
        n_docs, n_terms = len(lengths), len(vocabulary)
        keys, tf = np.unique(terms * max(n_docs, 1) + docs, return_counts=True)
        post_terms, post_docs = np.divmod(keys, max(n_docs, 1))
        df = np.bincount(post_terms, minlength=n_terms)
        idfs = okapi_idf(df, n_docs, params.epsilon)
        avgdl = float(lengths.mean()) if n_docs and lengths.sum() else 1.0
        norm = params.k1 * (1 - params.b + params.b * lengths / avgdl)
        tf = tf.astype(np.float64)
        impacts = idfs[post_terms] * tf * (params.k1 + 1) / (tf + norm[post_docs])
        offsets = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=offsets[1:])
        return cls(vocabulary, offsets, post_docs.astype(np.int32), impacts.astype(np.float32),
                   idfs, n_docs)

    def idf(self, token: str) -> float:
        """The term's idf; a term the corpus lacks gets the highest idf any term could have."""
        term = self.vocabulary.get(token)
        if term is None:
            return math.log((self.n_docs + 0.5) / 0.5)
        return float(self.idfs[term])

    def postings(self, token: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        term = self.vocabulary.get(token)
        if term is None:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        start, end = self.offsets[term], self.offsets[term + 1]
        return self.doc_ids[start:end], self.impacts[start:end]

    def matched_weight(self, weights: dict[str, float], paragraphs: Sequence[int]) -> list[float]:
        """For each paragraph, the summed weight of the tokens it contains.

        Postings are sorted by paragraph, so this is one binary search per (token, paragraph):
        nothing is tokenized again to tell whether a passage matched a word.
        """
        ids = np.asarray(paragraphs, dtype=np.int64)
        total = np.zeros(len(ids))
        for token, weight in weights.items():
            docs, _ = self.postings(token)
            if len(docs) and len(ids):
                where = np.minimum(np.searchsorted(docs, ids), len(docs) - 1)
                total += weight * (docs[where] == ids)
        return total.tolist()

    def scores(self, tokens: Sequence[str]) -> npt.NDArray[np.float32]:
        """Every paragraph's score, like rank-bm25's ``get_scores`` (a query token counts each time it occurs)."""
        scores = np.zeros(self.n_docs, dtype=np.float32)
        for token in tokens:
            docs, impacts = self.postings(token)
            scores[docs] += impacts
        return scores

    def search(self, tokens: Sequence[str], k: int) -> list[Hit]:
        """The k best paragraphs with a positive score, best first; ties go to the earlier paragraph.

        Only the query terms' postings are touched: scores accumulate in a reusable per-thread
        buffer, the top k are chosen among the touched paragraphs, and the buffer is cleared
        again at those positions only, so the cost follows the postings, not the corpus size.
        """
        if k <= 0 or not self.n_docs:
            return []
        lists = [self.postings(token) for token in tokens]
        lists = [(docs, impacts) for docs, impacts in lists if len(docs)]
        if not lists:
            return []
        scores = self._buffer()
        try:
            for docs, impacts in lists:
                scores[docs] += impacts
            touched = lists[0][0] if len(lists) == 1 else np.concatenate([docs for docs, _ in lists])
            values = scores[touched]
        finally:
            for docs, _ in lists:
                scores[docs] = 0
        # A paragraph appears once per query term it matches, so k × terms picks cover k distinct
        # ones; everything tied with the last pick is kept too, so ties can go to the earlier paragraph.
        wanted = min(len(touched), k * len(lists))
        if wanted < len(touched):
            floor = np.partition(values, len(values) - wanted)[len(values) - wanted]
            keep = values >= floor
            touched, values = touched[keep], values[keep]
        hits: list[Hit] = []
        seen: set[int] = set()
        for i in np.lexsort((touched, -values)):
            doc = int(touched[i])
            if doc not in seen and values[i] > 0:
                seen.add(doc)
                hits.append(Hit(doc, float(values[i])))
                if len(hits) == k:
                    break
        return hits

    def _buffer(self) -> npt.NDArray[np.float32]:
        """A zeroed score array for this thread (handlers search from several threads at once)."""
        buffer: npt.NDArray[np.float32] | None = getattr(self._local, "scores", None)
        if buffer is None or len(buffer) != self.n_docs:
            buffer = np.zeros(self.n_docs, dtype=np.float32)
            self._local.scores = buffer
        return buffer

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "offsets.npy", self.offsets)
        np.save(folder / "doc_ids.npy", self.doc_ids)
        np.save(folder / "impacts.npy", self.impacts)
        np.save(folder / "idfs.npy", self.idfs)
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        (folder / "vocabulary.json").write_text(json.dumps({"n_docs": self.n_docs, "terms": terms},
                                                           ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> ImpactIndex:
        """Map the arrays from disk (nothing is re-scored); missing pieces raise IndexCacheError."""
        try:
            meta = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r")
                      for name in ("offsets", "doc_ids", "impacts", "idfs")}
            vocabulary = {term: i for i, term in enumerate(meta["terms"])}
            n_docs = int(meta["n_docs"])
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise IndexCacheError(f"{folder}: unreadable index cache ({error})") from None
        if len(arrays["offsets"]) != len(vocabulary) + 1 or len(arrays["doc_ids"]) != len(arrays["impacts"]):
            raise IndexCacheError(f"{folder}: index cache arrays do not fit together")
        return cls(vocabulary, arrays["offsets"], arrays["doc_ids"], arrays["impacts"], arrays["idfs"], n_docs)


def okapi_idf(df: npt.NDArray[np.int64], n_docs: int, epsilon: float) -> npt.NDArray[np.float64]:
    """rank-bm25's BM25Okapi idf: negative idfs (terms in over half the paragraphs) become
    ``epsilon`` × the average idf over the vocabulary."""
    idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
    if not len(idf):
        return idf
    floor = epsilon * float(idf.sum()) / len(idf)
    idf[idf < 0] = floor
    return idf
