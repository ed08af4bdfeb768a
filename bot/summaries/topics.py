"""Articles → topics: the title-worthy words of their titles, and the wiki links they declare.

Topics come from corpus statistics rather than from each article's text, so that all of
them are known at once (to browse by topic) in well under a second for thousands of
articles: a topic is a word of an article's title that is *title-worthy* across the
library — of the articles that contain it (from the index's postings), a good share put it
in their title (DeepSeek, 关税, 美联储 do; 发布, 全球, 宣布 do not).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.search.articles import Article
from bot.search.library import Library

TOPICS_PER_ARTICLE = 4
MIN_TITLE_SHARE = 0.15
"""A word is a topic when at least this share of the articles containing it put it in their title."""

MIN_TITLES = 3
"""A topic must stand in this many titles: fewer is not worth browsing."""
_CJK_WORD = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff]+$")

_NUMBERISH = re.compile(r"^[0-9.\-_+&'’]+$")


class Topics:
    """The topics of one library's articles, derived from all titles at once (then kept)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._topics: dict[int, tuple[str, ...]] | None = None
        self._statistics: _TitleStatistics | None = None
        self._topic_labels: dict[str, str] = {}
        self._lock = threading.RLock()

    def topics(self, article: Article) -> tuple[str, ...]:
        """The article's author topics (wiki links) and the title-worthy words of its title."""
        table = self._topic_table()
        derived = table.get(id(article))
        if derived is None:
            derived = self._derive_topics([article], self._title_statistics())[0]
        return tuple(dict.fromkeys([*article.topics, *(self._topic_labels.get(t, t) for t in derived)]))

    def _topic_table(self) -> dict[int, tuple[str, ...]]:
        with self._lock:  # built once, whichever thread asks first
            if self._topics is None:
                statistics = self._title_statistics()
                derived = self._derive_topics(self.library.articles, statistics)
                self._topics = {id(a): topics for a, topics in zip(self.library.articles, derived)}
            return self._topics

    def _title_statistics(self) -> _TitleStatistics:
        with self._lock:
            if self._statistics is None:
                self._statistics = _TitleStatistics.compute(self.library)
            return self._statistics

    def _derive_topics(self, articles: Sequence[Article], statistics: _TitleStatistics) -> list[tuple[str, ...]]:
        result = []
        for article in articles:
            words = statistics.title_words.get(id(article))
            if words is None:
                words = _title_words(self.library.tokenizer, article.title)
            scored = sorted(((statistics.score(w), w) for w in words if statistics.is_topic(w)),
                            key=lambda sw: (-sw[0], sw[1]))
            kept: list[str] = []
            for _, word in scored:
                if not any(word in other or other in word for other in kept):
                    kept.append(word)
                if len(kept) == TOPICS_PER_ARTICLE:
                    break
            for word in kept:
                self._topic_labels.setdefault(word, statistics.label(word))
            result.append(tuple(kept))
        return result


def _title_words(tokenizer: Callable[[str], list[str]], title: str) -> list[str]:
    """Whole words of a title: the tokenizer's jieba words, not its character pairs.

    A two-character Chinese token is a word when jieba emits it besides the pair (it then
    occurs twice); pairs across word boundaries (天涨) occur once and are skipped.
    """
    tokens = tokenizer(title)
    counts = Counter(tokens)
    words = []
    for token in dict.fromkeys(tokens):
        if len(token) < 2 or _NUMBERISH.match(token):
            continue
        if _CJK_WORD.match(token) and len(token) == 2 and counts[token] < 2:
            continue
        words.append(token)
    return words

@dataclass
class _TitleStatistics:
    """For each title word: in how many titles it stands, and in how many articles at all."""

    title_words: dict[int, list[str]]
    title_df: Counter[str]
    article_df: dict[str, int]
    titles: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def compute(cls, library: Library) -> _TitleStatistics:
        tokenizer = library.tokenizer
        words = {id(a): _title_words(tokenizer, a.title) for a in library.articles}
        title_df: Counter[str] = Counter(w for ws in words.values() for w in ws)
        titles: dict[str, list[str]] = {}
        for article in library.articles:
            for word in words[id(article)]:
                if title_df[word] >= 2:
                    titles.setdefault(word, []).append(article.title)
        owner: list[int] = []
        for number, article in enumerate(library.articles):
            owner.extend([number] * len(article.paragraphs))
        article_df: dict[str, int] = {}
        index = library.index
        for word in titles:
            term = index.term(word)
            if term is not None:
                article_df[word] = len(set(map(owner.__getitem__, index.paragraphs_of(term).tolist())))
        return cls(words, title_df, article_df, titles)

    def is_topic(self, word: str) -> bool:
        df = self.article_df.get(word, 0)
        return self.title_df[word] >= MIN_TITLES and df > 0 and self.title_df[word] / df >= MIN_TITLE_SHARE

    def score(self, word: str) -> float:
        """Title-worthiness times how widely shared: a topic worth browsing."""
        return self.title_df[word] / max(self.article_df.get(word, 1), 1) * math.log1p(self.title_df[word])

    def label(self, word: str) -> str:
        """How titles write the word most often (DeepSeek, not deepseek)."""
        if not word.isascii():
            return word
        pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", re.IGNORECASE)
        forms = Counter(m.group() for title in self.titles.get(word, []) for m in pattern.finditer(title))
        return forms.most_common(1)[0][0] if forms else word
