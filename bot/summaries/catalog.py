"""The catalog readers browse: tags and topics with their articles, names resolved forgivingly, digests
(a page of a tag's articles with their summaries under an overview), the latest articles.

``Summarizer`` is what the rest of the bot talks to: it answers from ``Extractor`` (summaries) and
``Topics`` (title-worthy words), built over the same library.
"""

from __future__ import annotations

import difflib
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, NamedTuple

from bot.search.answers import Answerer
from bot.search.articles import Article
from bot.search.library import Library
from bot.search.query import Query
from bot.summaries.extracts import Extractor, Normalize, Summary, SummaryStyle, is_chinese
from bot.summaries.topics import Topics

ResolutionKind = Literal["tag", "topic", "search", "none"]

RECURRING_TOPICS = 3
"""An overview names at most this many topics, each found in two or more of its articles."""

MENTION_FLOOR = 0.6
"""Share of a name's idf weight an article must contain to count as mentioning it (search fallback)."""

FUZZY_CUTOFF = 0.84
"""difflib ratio for a near miss to resolve ("iyou" → iyiou is 0.89; 华为 → 华为云 is 0.8 and is not)."""


@dataclass(frozen=True)
class Resolution:
    """What a tag or topic name typed by a person refers to."""

    kind: ResolutionKind
    """"tag" / "topic": a known name (maybe after forgiving its spelling); "search": the articles
    that mention it; "none": nothing, see ``suggestions``."""
    name: str
    """The name as the library writes it (or the query, for search and none)."""
    articles: tuple[Article, ...]
    """Newest first."""
    suggestions: tuple[str, ...] = ()

class OverviewSentence(NamedTuple):
    """One sentence of a digest's overview and the article to link it to; unpacks as ``text, article``."""

    text: str
    article: Article

class DigestItem(NamedTuple):
    """An article with its summary; unpacks as ``article, summary``."""

    article: Article
    summary: Summary

@dataclass(frozen=True)
class Digest:
    """One page of a tag's or topic's articles, newest first, each with its summary."""

    name: str
    kind: ResolutionKind
    total: int
    page: int
    pages: int
    items: tuple[DigestItem, ...]
    overview: tuple[OverviewSentence, ...]
    """On page 1: two or three sentences describing all the articles (``Summarizer.overview``)."""
    suggestions: tuple[str, ...] = ()

class TagCount(NamedTuple):
    """A tag or topic and how many articles it has; unpacks as ``name, count, kind``."""

    name: str
    total: int
    kind: Literal["tag", "topic"]


class Summarizer:
    """Summaries, topics, tag resolution and digests over one library (all cached lazily, thread-safe)."""

    def __init__(self, library: Library, budget_zh: int = 150, budget_en_words: int = 55,
                 min_relevance: float = 0.3, style: SummaryStyle | None | Literal["auto"] = "auto") -> None:
        """``style``: "auto" learns it from the library's author-written summaries (if there are
        enough); pass a ``SummaryStyle`` to use another, or ``None`` for none."""
        self.library = library
        self.min_relevance = min_relevance
        self.extractor = Extractor(library, budget_zh, budget_en_words, style)
        self.topic_finder = Topics(library)
        self._name_table: dict[str, tuple[Literal["tag", "topic"], str]] | None = None
        self._member_table: dict[tuple[str, str], list[Article]] = {}
        self._by_path: dict[str, Article] | None = None
        self._lock = threading.Lock()

    def summarize(self, article: Article, from_body_only: bool = False) -> Summary:
        """The author's summary if the article has one (and ``from_body_only`` is false), else an extract."""
        return self.extractor.summarize(article, from_body_only)

    def budget(self, lang: str) -> int:
        return self.extractor.budget(lang)

    @property
    def style(self) -> SummaryStyle | None:
        return self.extractor.style

    def overview(self, articles: Sequence[Article], name: str | None = None) -> tuple[OverviewSentence, ...]:
        """Two or three sentences that describe the articles together: how many and over which dates,
        the topics that recur across them (``name`` itself left out), and the newest headline.

        Nothing in it is invented: every claim is a count of these articles, a date of one, a
        title, or a topic (a title word or wiki link, ``Topics``) that two or more of them have.
        The words around those are the overview's own, in the language most of the articles are
        written in, as their summaries are.
        """
        if not articles:
            return ()
        newest = newest_first(articles)
        words = _OVERVIEW_WORDS[_overview_language(articles)]
        dates = [a.date for a in articles if a.date is not None]
        span = _span(min(dates), max(dates), words) if dates else ""
        sentences = [OverviewSentence(words["count"].format(n=len(articles), span=span), newest[0])]
        recurring = self._recurring(newest, name)
        if recurring:
            listed = words["sep"].join(words["topic"].format(topic=t, n=n) for t, n, _ in recurring)
            sentences.append(OverviewSentence(words["topics"].format(topics=listed), recurring[0][2]))
        when = _date(newest[0].date, words) if newest[0].date else ""
        sentences.append(OverviewSentence(
            words["newest" if when else "newest_undated"].format(title=newest[0].title, date=when), newest[0]))
        return tuple(sentences)

    def _recurring(self, newest: Sequence[Article], name: str | None) -> list[tuple[str, int, Article]]:
        """(topic, how many of the articles have it, the newest that has it), most shared first."""
        normalize = self.library.tokenizer.normalize
        skip = _key(normalize, name) if name else None
        counts: Counter[str] = Counter()
        first: dict[str, Article] = {}
        labels: dict[str, str] = {}
        for article in newest:
            keys = {_key(normalize, t): t for t in self.topics(article)}
            for key, topic in keys.items():
                if not key or key == skip:
                    continue
                counts[key] += 1
                first.setdefault(key, article)
                labels.setdefault(key, topic)
        ranked = sorted((key for key, n in counts.items() if n >= 2), key=lambda k: -counts[k])
        return [(labels[k], counts[k], first[k]) for k in ranked[:RECURRING_TOPICS]]

    def topics(self, article: Article) -> tuple[str, ...]:
        return self.topic_finder.topics(article)

    def warm(self) -> None:
        """Do now the once-per-library work that the first summary, topic or digest would do:
        the summary style, the table of repeated sentences, and all topics (~1-2 s for 3,000
        articles). The bot calls this at start-up so that no reply waits for it."""
        self.extractor.warm()
        self._names()

    def article(self, path: str | Path) -> Article | None:
        """An article by its path as the library lists it, by its absolute path, or by a path
        tail (file name) that only one article has."""
        with self._lock:
            if self._by_path is None:
                self._by_path = {a.path: a for a in self.library.articles}
        text = str(path)
        found = self._by_path.get(text) or self._by_path.get(str(Path(text).absolute()))
        if found is not None:
            return found
        tail = "/" + text.lstrip("./")
        matches = [a for p, a in self._by_path.items() if p.endswith(tail)]
        return matches[0] if len(matches) == 1 else None

    def summarize_path(self, path: str | Path) -> DigestItem | None:
        article = self.article(path)
        return None if article is None else DigestItem(article, self.summarize(article))

    def best_for(self, query: str) -> DigestItem | None:
        """The article that best answers a query, with its summary; raises QuestionError for an
        empty or over-long query, like ``Answerer``."""
        answer = Answerer(self.library, self.min_relevance).answer(query, k=1)
        if not answer.quotes:
            return None
        article = answer.quotes[0].article
        return DigestItem(article, self.summarize(article))

    def latest(self, n: int = 5) -> list[DigestItem]:
        return [DigestItem(a, self.summarize(a)) for a in newest_first(self.library.articles)[:max(n, 0)]]

    def tags(self, top_topics: int = 30) -> list[TagCount]:
        """Every tag with its article count, then the most shared topics that are not also tags."""
        tag_counts = Counter(tag for a in self.library.articles for tag in a.tags)
        tag_keys = {_key(self.library.tokenizer.normalize, t) for t in tag_counts}
        result = [TagCount(name, count, "tag") for name, count in
                  sorted(tag_counts.items(), key=lambda nc: (-nc[1], nc[0].casefold()))]
        topic_counts = Counter(t for a in self.library.articles for t in self.topics(a))
        topics = [(name, count) for name, count in topic_counts.items()
                  if count >= 2 and _key(self.library.tokenizer.normalize, name) not in tag_keys]
        topics.sort(key=lambda nc: (-nc[1], nc[0].casefold()))
        return result + [TagCount(name, count, "topic") for name, count in topics[:top_topics]]

    def _names(self) -> dict[str, tuple[Literal["tag", "topic"], str]]:
        """Canonical key → (kind, name as written); a tag wins over a topic with the same key."""
        with self._lock:  # built once, whichever thread asks first
            if self._name_table is None:
                self._name_table, self._member_table = self._name_tables()
            return self._name_table

    def _name_tables(self) -> tuple[dict[str, tuple[Literal["tag", "topic"], str]],
                                    dict[tuple[str, str], list[Article]]]:
        normalize = self.library.tokenizer.normalize
        names: dict[str, tuple[Literal["tag", "topic"], str]] = {}
        members: dict[tuple[str, str], list[Article]] = {}
        for article in self.library.articles:
            for topic in self.topics(article):
                key = _key(normalize, topic)
                names.setdefault(key, ("topic", topic))
                members.setdefault(("topic", key), []).append(article)
            for tag in article.tags:
                members.setdefault(("tag", _key(normalize, tag)), []).append(article)
        for article in self.library.articles:
            for tag in article.tags:
                key = _key(normalize, tag)
                if names.get(key, ("topic", ""))[0] != "tag":
                    names[key] = ("tag", tag)
        return names, members

    def resolve(self, name: str) -> Resolution:
        """A tag, else a topic, else a near miss of either, else the articles that mention it.

        Tags and topics list their articles newest first; a mere mention lists the articles
        most about it first (a digest of a name nobody tagged is a reading list, not a feed).
        """
        normalize = self.library.tokenizer.normalize
        key = _key(normalize, name)
        names = self._names()
        match = names.get(key)
        if match is None and key:
            close = difflib.get_close_matches(key, list(names), n=1, cutoff=FUZZY_CUTOFF)
            match = names[close[0]] if close else None
        if match is not None:
            kind, written = match
            return Resolution(kind, written, tuple(newest_first(self._members(kind, written))))
        # "deep seek" as one word too: names are written with and without their spaces.
        mentioned = self._mentions(name) or (self._mentions(key) if key != normalize(name).strip() else [])
        if mentioned:
            return Resolution("search", name.strip(), tuple(mentioned))
        return Resolution("none", name.strip(), (), self._suggestions(key, names))

    def _members(self, kind: str, name: str) -> list[Article]:
        self._names()
        key = (kind, _key(self.library.tokenizer.normalize, name))
        return list(dict.fromkeys(self._member_table.get(key, [])))

    def _mentions(self, name: str) -> list[Article]:
        """Articles with paragraphs that mention the name, the ones most about it first."""
        tokens = self.library.tokenizer(name)
        if not tokens:
            return []
        query = Query.of(self.library, tokens)
        passages = self.library.search(query.terms, 500)
        articles: dict[str, Article] = {}
        mentions: Counter[str] = Counter()
        for passage, share in zip(passages, query.share_held(self.library.index, [p.index for p in passages])):
            if share >= MENTION_FLOOR:
                articles.setdefault(passage.article.path, passage.article)
                mentions[passage.article.path] += 1
        # Most about it first: the articles that mention it in the most paragraphs, then the newest.
        newest = {a.path: i for i, a in enumerate(newest_first(articles.values()))}
        return sorted(articles.values(), key=lambda a: (-mentions[a.path], newest[a.path]))

    def _suggestions(self, key: str, names: Mapping[str, tuple[str, str]], limit: int = 5) -> tuple[str, ...]:
        close = difflib.get_close_matches(key, list(names), n=limit, cutoff=0.5) if key else []
        suggestions = [names[k][1] for k in close]
        for tag in self.tags(top_topics=limit):
            if tag.name not in suggestions:
                suggestions.append(tag.name)
        return tuple(suggestions[:limit])

    def digest(self, name: str, page: int = 1, per_page: int = 5) -> Digest:
        """A page of the named tag's or topic's articles (or of the articles mentioning it)."""
        resolution = self.resolve(name)
        per_page = max(per_page, 1)
        total = len(resolution.articles)
        pages = max(1, math.ceil(total / per_page))
        page = min(max(page, 1), pages)
        shown = resolution.articles[(page - 1) * per_page:page * per_page]
        items = tuple(DigestItem(a, self.summarize(a)) for a in shown)
        overview = self.overview(resolution.articles, resolution.name) if page == 1 and total > 1 else ()
        return Digest(resolution.name, resolution.kind, total, page, pages, items, overview,
                      resolution.suggestions)


_OVERVIEW_WORDS = {
    "zh": {"count": "共 {n} 篇文章{span}。", "span_days": "，发布于 {a}至{b}", "span_day": "，发布于 {a}",
           "topics": "反复出现的话题：{topics}。", "topic": "{topic}（{n} 篇）", "sep": "、",
           "newest": "最新一篇：《{title}》（{date}）。", "newest_undated": "最新一篇：《{title}》。",
           "date": "{y}年{m}月{d}日", "same_year": "{m}月{d}日"},
    "zh-hant": {"count": "共 {n} 篇文章{span}。", "span_days": "，發佈於 {a}至{b}", "span_day": "，發佈於 {a}",
                "topics": "反覆出現的話題：{topics}。", "topic": "{topic}（{n} 篇）", "sep": "、",
                "newest": "最新一篇：《{title}》（{date}）。", "newest_undated": "最新一篇：《{title}》。",
                "date": "{y}年{m}月{d}日", "same_year": "{m}月{d}日"},
    "en": {"count": "{n} articles{span}.", "span_days": ", published {a} to {b}", "span_day": ", published {a}",
           "topics": "Recurring topics: {topics}.", "topic": "{topic} ({n} articles)", "sep": ", ",
           "newest": "Newest: “{title}” ({date}).", "newest_undated": "Newest: “{title}”.",
           "date": "{mon} {d}, {y}", "same_year": "{mon} {d}"},
}
"""The overview's own words around its counts, dates, titles and topics, per language of the articles."""
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TRADITIONAL = ("zh-hk", "zh-tw", "zh-mo", "zh-hant")


def _overview_language(articles: Sequence[Article]) -> str:
    """The language most of the articles are in: Simplified or Traditional Chinese, else English."""
    langs = Counter("zh-hant" if a.lang.lower().startswith(_TRADITIONAL) else "zh" if is_chinese(a.lang) else "en"
                    for a in articles)
    return max(langs, key=lambda lang: (langs[lang], lang == "zh"))


def _date(when: datetime | None, words: Mapping[str, str], year: bool = True) -> str:
    if when is None:
        return ""
    return words["date" if year else "same_year"].format(y=when.year, m=when.month, d=when.day,
                                                         mon=_MONTHS[when.month - 1])


def _span(first: datetime, last: datetime, words: Mapping[str, str]) -> str:
    """", published Feb 7 to Feb 14, 2025": the year once when both dates share it."""
    if first.date() == last.date():
        return words["span_day"].format(a=_date(last, words))
    if first.year == last.year:
        chinese = "{y}" in words["date"].split("{m}")[0]
        a = _date(first, words) if chinese else _date(first, words, year=False)
        b = _date(last, words, year=False) if chinese else _date(last, words)
        return words["span_days"].format(a=a, b=b)
    return words["span_days"].format(a=_date(first, words), b=_date(last, words))


def _key(normalize: Normalize, name: str) -> str:
    """The form names are compared in: NFKC, lower case, Simplified, no spaces or hyphens."""
    return re.sub(r"[\s\-_·.]+", "", normalize(name))

def newest_first(articles: Iterable[Article]) -> list[Article]:
    """Newest first (a stable sort: equal dates keep their order); undated articles last."""
    listed = list(articles)
    dated = [a for a in listed if a.date is not None]
    dated.sort(key=lambda a: a.date or datetime.min, reverse=True)
    return dated + [a for a in listed if a.date is None]
