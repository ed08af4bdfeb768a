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


class Boilerplate:
    """The collection's boilerplate lines, and the paragraphs made only of them."""

    def __init__(self, prints: Iterable[int] = (), muted: npt.NDArray[np.int32] | None = None) -> None:
        self.prints = frozenset(int(p) for p in prints)
        self.muted = np.zeros(0, dtype=np.int32) if muted is None else np.asarray(muted, dtype=np.int32)
        """Index numbers of the paragraphs every line of which is boilerplate, sorted."""

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
            return cls()
        prints = np.concatenate([item.prints for item in lines])
        unique, counts = np.unique(prints, return_counts=True)
        repeated = unique[counts >= MIN_ARTICLES]
        paragraphs = np.concatenate([item.paragraphs.astype(np.int64) + start for item, start in zip(lines, starts)])
        boiler = np.isin(prints, repeated)
        seen = np.bincount(paragraphs, minlength=1)
        kept = np.bincount(paragraphs[~boiler], minlength=len(seen))
        muted = np.flatnonzero((seen > 0) & (kept[:len(seen)] == 0)).astype(np.int32)
        return cls(repeated.tolist(), muted)

    def save(self, folder: Path) -> None:
        np.save(folder / FILE, np.array(sorted(self.prints), dtype=np.int64))
        np.save(folder / f"muted-{FILE}", self.muted)

    @classmethod
    def load(cls, folder: Path) -> Boilerplate:
        return cls(np.load(folder / FILE).tolist(), np.load(folder / f"muted-{FILE}"))
