"""Lines a source repeats across its articles: attribution (本文来自华尔街见闻), app promotion
(欢迎下载APP), 责任编辑, disclaimers, a column's fixed heading. They are found from the collection itself
at index time, not from a list: every site has its own, in its own words and languages.

A line is a sentence of a paragraph (``markup.sentence_spans``) in the tokenizer's normal form. It is
boilerplate when one source has it in ``MIN_ARTICLES`` articles or more. The source is the site a
page is published on (its public URL's host), else the host of the article's source link: counted
per source, a fact several outlets report in the same words is not boilerplate, while one outlet's
sign-off is. Boilerplate is never quoted, highlighted or summarised; a paragraph made only of it is
never a search result. The index still holds its words: what a reader searches for is the
article's own text around it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from bot.search.articles import Article, Paragraph

MIN_ARTICLES = 3
"""In how many of one source's articles a line must appear to be boilerplate: twice may be chance
(a follow-up quoting its first report), three times is a habit."""
MIN_CHARS = 6
"""Shorter lines ("谢谢。", "图源:ai") are left alone: too short to say they are anything but text."""
FILE = "boilerplate.npy"


@dataclass(frozen=True)
class Lines:
    """One article's lines as fingerprints, each with its paragraph's position in the article."""

    prints: npt.NDArray[np.int64]
    paragraphs: npt.NDArray[np.int32]

    def to_bytes(self) -> bytes:
        return self.prints.tobytes() + self.paragraphs.tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Lines:
        n = len(blob) // 12
        return cls(np.frombuffer(blob[:8 * n], dtype=np.int64), np.frombuffer(blob[8 * n:], dtype=np.int32))


def source_of(article: Article) -> str:
    """Whose habit a repeated line is: the site that publishes the page, else the linked source's host."""
    return urlsplit(article.page_url or article.source_url or "").hostname or ""


def fingerprint(source: str, line: str) -> int:
    """A stable 64-bit print of a normalised line of one source (Python's ``hash`` differs per process)."""
    digest = hashlib.blake2b(f"{source}\x00{line.strip()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def lines_of(article: Article) -> Lines:
    """The article's countable lines, each once (a line repeated within one article is counted once)."""
    source = source_of(article)
    seen: dict[int, int] = {}
    for position, paragraph in enumerate(article.paragraphs):
        for line in paragraph.folded:
            if len(line.strip()) >= MIN_CHARS:
                seen.setdefault(fingerprint(source, line), position)
    return Lines(np.fromiter(seen.keys(), dtype=np.int64, count=len(seen)),
                 np.fromiter(seen.values(), dtype=np.int32, count=len(seen)))


@dataclass(frozen=True)
class LineCounts:
    """In how many articles each distinct line (by its print) appears: what an update adjusts instead of
    counting every line of the collection again."""

    prints: npt.NDArray[np.int64]
    """Sorted."""
    counts: npt.NDArray[np.int32]


class Boilerplate:
    """The collection's boilerplate lines, and the paragraphs made only of them."""

    def __init__(self, prints: Iterable[int] | npt.NDArray[np.int64] = (), muted: npt.NDArray[np.int32] | None = None,
                 counts: LineCounts | None = None) -> None:
        if isinstance(prints, np.ndarray):
            self.sorted_prints = np.sort(prints.astype(np.int64))
            self.prints = frozenset(self.sorted_prints.tolist())
        else:
            self.prints = prints if isinstance(prints, frozenset) else frozenset(int(p) for p in prints)
            self.sorted_prints = np.array(sorted(self.prints), dtype=np.int64)
        """The boilerplate lines' prints (a set, for one line at a time; sorted, for many at once)."""
        self.muted = np.zeros(0, dtype=np.int32) if muted is None else np.asarray(muted, dtype=np.int32)
        """Index numbers of the paragraphs every line of which is boilerplate, sorted."""
        self.counts = counts
        """Every line's article count, where known (a cache written before they were kept has none)."""

    def _with(self, muted: npt.NDArray[np.int32], counts: LineCounts | None) -> Boilerplate:
        """The same boilerplate lines with other muted paragraphs or counts (its sets are not made again)."""
        other = Boilerplate.__new__(Boilerplate)
        other.prints, other.sorted_prints, other.muted, other.counts = self.prints, self.sorted_prints, muted, counts
        return other

    def __len__(self) -> int:
        return len(self.prints)

    def lines(self, article: Article, paragraph: Paragraph) -> list[bool]:
        """For each sentence of the paragraph (as ``folded`` holds them), whether it is boilerplate."""
        if not self.prints:
            return [False] * len(paragraph.folded)
        source = source_of(article)
        return [len(line.strip()) >= MIN_CHARS and fingerprint(source, line) in self.prints
                for line in paragraph.folded]

    def is_muted(self, paragraphs: npt.NDArray[np.int64] | Sequence[int]) -> npt.NDArray[np.bool_]:
        """Which of these index paragraphs are boilerplate through and through."""
        return np.isin(np.asarray(paragraphs), self.muted)

    @classmethod
    def found(cls, lines: Sequence[Lines], starts: Sequence[int]) -> Boilerplate:
        """Count every line over the articles (``starts``: each article's first paragraph in the index)."""
        if not lines:
            return cls(counts=LineCounts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)))
        prints = np.concatenate([item.prints for item in lines])
        unique, counts = np.unique(prints, return_counts=True)
        repeated = unique[counts >= MIN_ARTICLES]
        paragraphs = np.concatenate([item.paragraphs.astype(np.int64) + start for item, start in zip(lines, starts)])
        boiler = np.isin(prints, repeated)
        return cls(repeated, _muted(paragraphs, boiler), LineCounts(unique, counts.astype(np.int32)))

    def updated(self, gone: Sequence[Lines], fresh: Sequence[Lines], fresh_starts: Sequence[int],
                moves: tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]) -> Boilerplate | None:
        """The boilerplate after an update: the ``gone`` articles' lines taken out, ``fresh`` ones added (with
        their first paragraphs), the others' paragraphs renumbered (``moves``: each earlier article's first
        paragraph, whether it stays, and its first paragraph now). A few articles' work, not the
        collection's; None when lines reach or leave MIN_ARTICLES (which paragraphs are muted may then
        change anywhere: ``found`` counts again) or the counts are not at hand."""
        if self.counts is None:
            return None
        prints, counts = np.asarray(self.counts.prints), np.asarray(self.counts.counts)
        minus = [item.prints for item in gone]
        plus = [item.prints for item in fresh]
        changed, inverse = np.unique(np.concatenate([np.zeros(0, dtype=np.int64), *minus, *plus]), return_inverse=True)
        signs = np.concatenate([np.zeros(0, dtype=np.int64)] + [np.full(len(m), -1) for m in minus]
                               + [np.ones(len(a), dtype=np.int64) for a in plus])
        change = np.bincount(inverse.reshape(-1), weights=signs, minlength=len(changed)).astype(np.int64)
        where = np.searchsorted(prints, changed)
        present = (where < len(prints)) & (prints[np.minimum(where, max(len(prints) - 1, 0))] == changed) \
            if len(prints) else np.zeros(len(changed), dtype=bool)
        before = np.where(present, counts[np.minimum(where, max(len(counts) - 1, 0))] if len(counts) else 0, 0)
        after = before + change
        if (after < 0).any() or ((before >= MIN_ARTICLES) != (after >= MIN_ARTICLES)).any():
            return None
        counts = counts.copy()
        counts[where[present]] = after[present]
        new = ~present & (after > 0)
        prints = np.insert(prints, where[new], changed[new])
        counts = np.insert(counts, where[new], after[new])
        left = counts > 0
        starts, stays, now = moves
        owner = np.searchsorted(starts, self.muted, side="right") - 1
        kept = self.muted[stays[owner]] if len(self.muted) else self.muted
        renumbered = (now[owner[stays[owner]]] + kept - starts[owner[stays[owner]]]) if len(self.muted) else kept
        repeated = self.sorted_prints
        added = [_muted(item.paragraphs.astype(np.int64), np.isin(item.prints, repeated)) + start
                 for item, start in zip(fresh, fresh_starts)]
        muted = np.sort(np.concatenate([renumbered.astype(np.int64), *added])).astype(np.int32)
        return self._with(muted, LineCounts(prints[left], counts[left].astype(np.int32)))

    def save(self, folder: Path) -> None:
        np.save(folder / FILE, self.sorted_prints)
        np.save(folder / f"muted-{FILE}", self.muted)
        if self.counts is not None:
            np.save(folder / f"prints-{FILE}", self.counts.prints)
            np.save(folder / f"counts-{FILE}", self.counts.counts)

    @classmethod
    def load(cls, folder: Path) -> Boilerplate:
        return cls(np.load(folder / FILE), np.load(folder / f"muted-{FILE}"), _mapped_counts(folder))

    def mapped(self, folder: Path) -> Boilerplate:
        """This boilerplate with its counts mapped from where ``save`` wrote them (they leave memory: only
        the next update looks at them)."""
        return self._with(self.muted, _mapped_counts(folder))


def _mapped_counts(folder: Path) -> LineCounts | None:
    if not (folder / f"counts-{FILE}").is_file():
        return None
    counts = LineCounts(np.load(folder / f"prints-{FILE}", mmap_mode="r"), np.load(folder / f"counts-{FILE}", mmap_mode="r"))
    return counts if len(counts.prints) == len(counts.counts) else None


def _muted(paragraphs: npt.NDArray[np.int64], boiler: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """The paragraphs (by number) that have countable lines and none but boilerplate ones."""
    seen = np.bincount(paragraphs, minlength=1)
    kept = np.bincount(paragraphs[~boiler], minlength=len(seen))
    return np.flatnonzero((seen > 0) & (kept[:len(seen)] == 0)).astype(np.int32)
