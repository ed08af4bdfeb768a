"""Articles → extractive summaries: every sentence shown is a verbatim sentence of an article.

How an extract is chosen (and why not TextRank). A summary of ~150 characters has room for
two to five sentences, and a good one says what the article says most often: its recurring
characters, and above all its recurring character pairs and triples (names, products,
figures). So each sentence is worth the *expected overlap* it adds with an ideal summary
whose n-gram counts follow the article's own (KL-Sum's idea, Haghighi & Vanderwende 2009):
an n-gram seen ``c`` times in an article of ``N`` units is expected ``S·c/N`` times in a
summary ``S`` units long, and a sentence earns at most that much for it, so a second
sentence repeating the first earns nothing (redundancy is removed by the objective itself,
not by a separate MMR step). Sentences are picked greedily by gain per character while
they fit the budget, the standard approximation for budgeted submodular maximisation
(Lin & Bilmes 2010), and shown in reading order. Units are characters for Chinese and
words for English, so nothing depends on how jieba segments a sentence, and summarising
runs no tokenizer: it is cheap enough to do on demand for a whole page of a digest.
Centrality (TextRank, LexRank) and a lead bias both did worse on the WeChat benchmark;
so did idf weighting: a summary repeats an article's common words too.

Where the library has author-written summaries (WeChat's 摘要, front-matter summaries), a
*style* is learned from them: how much likelier each character and character pair is in
a summary than in a body (``SummaryStyle``). Written summaries name products, figures and
outcomes and rarely say 我/觉得/真的, so this moves the choice towards sentences that state
facts. ``benchmarks/summaries.md`` measures both, against lead, TextRank and LexRank.
"""

from __future__ import annotations

import heapq
import operator
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, NamedTuple, TypeVar

from bot.search.articles import ABSTRACT_HEADINGS, Article
from bot.search.library import Library
from bot.search.markup import split_sentences

SummarySource = Literal["author", "extract"]
REFERENCE_SCALE = 4.0
"""The ideal summary the objective aims at is this many budgets long (a written abstract in the
WeChat corpus is ~4 times a 150-character extract). Measured flat between 3 and 5."""

STYLE_MIN_ARTICLES = 20
"""Fewer author-written summaries than this teach no reliable style; none is used."""
STYLE_SMOOTHING = 5.0
"""Added to every count of the style's likelihood ratio, so that rare pairs get a ratio near 1."""

MIN_UNITS = {"zh": 8, "en": 4}
"""Sentences shorter than this (characters / words) say too little to summarise anything."""
UNTERMINATED_FACTOR = 2
"""A piece with no closing mark (a heading, a caption, a list line) must be this many times longer."""

MAX_LINES = 4
"""A "sentence" joined from more lines than this is a list (of headlines, of names), not a sentence."""
REPEATED_IN = 3
"""A sentence found word for word in this many articles is the site's boilerplate."""

EDGE_PARAGRAPHS = 3
"""Boilerplate is looked for in each article's first and last few paragraphs (where sites put it)."""
MIN_REPEATED_CHARS = 8

OVERVIEW_SENTENCES = 3
CACHE_SIZE = 4096

_LATIN_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[。！？!?；;…][”’」』）)\"']*\s*$")

_OPENS_WITH_PUNCT = re.compile(r"^\s*[，。、：；！？）》」』”’,.:;!?)\]]")
_BULLET = re.compile(r"^\s*•\s*")

_CLAUSE_END = re.compile(r"[，、；：,;:]")
_BOILERPLATE = re.compile(
    r"https?://|www\.|点击|关注我们|关注公众号|扫码|二维码|长按|阅读原文|原文链接|责任编辑|免责声明|版权所有|"
    r"转载|商务合作|图片来源|图源|三连|星标|点个?赞.{0,8}(?:在看|转发)|(?:在看|转发).{0,8}(?:点赞|三连)|"
    r"click here|subscribe|sign up|newsletter|follow us|read more|all rights reserved|disclaimer|"
    r"getty images|reporting by|editing by|^\s*(?:photo|image|credit|source)\s*:", re.IGNORECASE)

_SPACES = re.compile(r"\s+")
_PIECES = re.compile(r"(?<=[。！？!?])\s*|\s*\n\s*|(?<=[.!?])\s+(?=[A-Z0-9\"“])")


@dataclass(frozen=True)
class Summary:
    """What an article says, in its own words: verbatim sentences in reading order."""

    text: str
    """The sentences joined for display (line breaks inside a sentence removed)."""
    sentences: tuple[str, ...]
    """Each exactly as it stands in the article (a clipped one ends with "…")."""
    source: SummarySource
    """"author": the article's own summary; "extract": sentences chosen from its body."""
    paragraphs: tuple[int, ...] = ()
    """For an extract, the ``Paragraph.position`` each sentence comes from."""

class OverviewSentence(NamedTuple):
    """One sentence of a digest's overview and the article to link it to; unpacks as ``text, article``."""

    text: str
    article: Article

@dataclass(frozen=True)
class Candidate:
    """A sentence an extract may use: verbatim text and the paragraph it stands in."""

    text: str
    paragraph: int
    order: int

def is_chinese(lang: str) -> bool:
    return lang.lower().startswith(("zh", "cn", "ja"))

def summary_length(text: str, lang: str) -> int:
    """What a budget counts: non-blank characters for Chinese, words for English."""
    if is_chinese(lang):
        return len(text) - sum(map(str.isspace, text))
    return len(text.split())

def body_paragraphs(article: Article, body_only: bool = True) -> list[tuple[int, str]]:
    """(position, text) of the paragraphs an extract draws from.

    With ``body_only``, paragraphs of a summary section (摘要 / Summary / TL;DR, or text that
    is part of ``Article.abstract``) are left out, so that an extract is the body's own.
    """
    abstract = article.abstract or ""
    kept = []
    for paragraph in article.paragraphs:
        if body_only and (paragraph.heading.strip(" :：").casefold() in ABSTRACT_HEADINGS
                          or (abstract and paragraph.text in abstract)):
            continue
        kept.append((paragraph.position, paragraph.text))
    return kept

def sentence_candidates(article: Article, body_only: bool = True) -> list[Candidate]:
    """Every sentence of the body, verbatim, in reading order.

    ``split_sentences`` also ends a sentence at a line break, and WeChat posts break lines
    mid-sentence ("让大家\\n一起用AI，来交个朋友\\n。"), so a piece without a closing mark is
    joined with the next one in the same paragraph (list items stay apart). The joined
    text is still a verbatim slice of the paragraph.
    """
    candidates: list[Candidate] = []
    chinese = is_chinese(article.lang)
    for position, text in body_paragraphs(article, body_only):
        pieces: list[str] = []
        for piece in split_sentences(text):
            if pieces and _continues(pieces[-1], piece, chinese):
                pieces[-1] += piece
            else:
                pieces.append(piece)
        for piece in pieces:
            piece = _BULLET.sub("", piece.strip())
            if piece:
                candidates.append(Candidate(piece, position, len(candidates)))
    return candidates

def _continues(previous: str, piece: str, chinese: bool) -> bool:
    """Whether ``piece`` goes on the sentence ``previous`` began (that line had no closing mark).

    Chinese posts wrap lines anywhere, so any unclosed line runs on; in English only a line
    that starts in lower case does (other unclosed lines are headings and headline lists).
    """
    if not piece.strip():
        return True
    if _OPENS_WITH_PUNCT.match(piece) and len(piece.strip()) <= 2:
        return True
    if previous.lstrip().startswith("•") or piece.lstrip().startswith("•") or _SENTENCE_END.search(previous):
        return False
    return chinese or piece.lstrip()[:1].islower() or bool(_OPENS_WITH_PUNCT.match(piece))

def fill_budget(order: Iterable[int], sentences: Sequence[str], lang: str, budget: int) -> list[str]:
    """Sentences taken in ``order`` while they fit the budget (skipping those that do not),
    returned in reading order: how every system in the benchmark spends its budget."""
    chosen: list[int] = []
    used = 0
    for i in order:
        size = summary_length(sentences[i], lang)
        if size and used + size <= budget:
            chosen.append(i)
            used += size
    return [sentences[i] for i in sorted(chosen)]

def display_text(sentences: Sequence[str], lang: str) -> str:
    """Sentences joined as a reader sees them: Chinese without spaces, line breaks removed."""
    if is_chinese(lang):
        return "".join(_SPACES.sub(lambda m: "" if "\n" in m.group() else m.group(), s) for s in sentences)
    return " ".join(_SPACES.sub(" ", s) for s in sentences)

Normalize = Callable[[str], str]

def content_units(normalized: str, chinese: bool) -> list[str]:
    """Characters (letters, digits, CJK) for Chinese; lower-case words for English."""
    if chinese:
        return [ch for ch in normalized if ch.isalnum()]
    return _LATIN_WORD.findall(normalized)

def ngrams(units: Sequence[str], chinese: bool, orders: int = 3) -> tuple[Sequence[str], ...]:
    """Units, pairs and triples (the first ``orders`` of them) as text, in order."""
    if chinese:
        grams: Sequence[str] = "".join(units)
        join = operator.add
    else:
        grams = units

        def join(a: str, b: str) -> str:
            return f"{a} {b}"
    found = [grams]
    for _ in range(orders - 1):
        grams = list(map(join, grams, units[len(found):]))
        found.append(grams)
    return tuple(found)

def ngram_counts(units: Sequence[str], chinese: bool, orders: int = 3) -> tuple[Counter[str], ...]:
    """Counts of units, pairs and triples, keyed by their text."""
    return tuple(Counter(grams) for grams in ngrams(units, chinese, orders))

@dataclass(frozen=True)
class SummaryStyle:
    """How much likelier each unit and pair is in a written summary than in a body.

    Learned from pairs of (summary, body) texts; ``lift`` is a smoothed likelihood ratio.
    """

    summary_counts: tuple[Counter[str], Counter[str]]
    body_counts: tuple[Counter[str], Counter[str]]
    pairs: int
    _memo: tuple[dict[str, float], dict[str, float]] = field(default_factory=lambda: ({}, {}), compare=False,
                                                             repr=False)

    @classmethod
    def learn(cls, examples: Iterable[tuple[str, str, str]], normalize: Normalize) -> SummaryStyle:
        """From (summary, body, lang) triples; all summaries (and all bodies) are counted as one
        text, which is what makes this take a second rather than ten for 350 long posts."""
        texts: dict[tuple[bool, int], list[str]] = {}
        pairs = 0
        for summary, body, lang in examples:
            chinese = is_chinese(lang)
            texts.setdefault((chinese, 0), []).append(summary)
            texts.setdefault((chinese, 1), []).append(body)
            pairs += 1
        counts: tuple[list[Counter[str]], list[Counter[str]]] = ([Counter(), Counter()], [Counter(), Counter()])
        for (chinese, side), parts in texts.items():
            units = content_units(normalize("\n".join(parts)), chinese)
            for total, found in zip(counts[side], ngram_counts(units, chinese, orders=2)):
                total.update(found)
        return cls((counts[0][0], counts[0][1]), (counts[1][0], counts[1][1]), pairs)

    def lifts(self, order: int, keys: Iterable[str]) -> dict[str, float]:
        """``P(key | summary) / P(key | body)``, smoothed, for each key (order 0: units, 1: pairs)."""
        memo = self._memo[order]
        missing = [key for key in keys if key not in memo]
        if missing:
            summary, body = self.summary_counts[order], self.body_counts[order]
            k = STYLE_SMOOTHING
            scale = (sum(body.values()) + 1.0) / (sum(summary.values()) + 1.0)
            memo.update((key, scale * (summary[key] + k) / (body[key] + k)) for key in missing)
        return memo

Grams = tuple[list[tuple[str, int]], list[tuple[str, int]], list[tuple[str, int]]]

@dataclass
class _Sentence:
    candidate: Candidate
    size: int
    """Its length as the budget counts it."""
    units: int
    grams: Grams

def _sentences(candidates: Sequence[Candidate], lang: str,
               normalize: Normalize) -> tuple[list[_Sentence], tuple[Counter[str], Counter[str], Counter[str]]]:
    """The candidates with their n-grams, and the n-gram counts of all of them together."""
    chinese = is_chinese(lang)
    texts = [c.text for c in candidates]
    normalized = normalize(_SEPARATOR.join(texts)).split(_SEPARATOR)
    if len(normalized) != len(texts):
        normalized = [normalize(text) for text in texts]
    sentences = []
    everything: tuple[list[str], list[str], list[str]] = ([], [], [])
    for candidate, text in zip(candidates, normalized):
        grams = ngrams(content_units(text, chinese), chinese)
        for total, found in zip(everything, grams):
            total.extend(found)
        counts = [Counter(found) for found in grams]
        sentences.append(_Sentence(candidate, summary_length(candidate.text, lang), len(grams[0]),
                                   (list(counts[0].items()), list(counts[1].items()), list(counts[2].items()))))
    return sentences, (Counter(everything[0]), Counter(everything[1]), Counter(everything[2]))

_SEPARATOR = "\x1e"
"""Joins sentences so that they are normalised in one call (OpenCC per call is the cost)."""

@dataclass
class _ArticleModel:
    """An article's candidate sentences with their n-grams, and its n-gram totals."""

    lang: str
    sentences: list[_Sentence]
    totals: tuple[Counter[str], Counter[str], Counter[str]]
    length: int

    @property
    def chinese(self) -> bool:
        return is_chinese(self.lang)

def _article_model(article: Article, body_only: bool, normalize: Normalize) -> _ArticleModel:
    sentences, totals = _sentences(sentence_candidates(article, body_only), article.lang, normalize)
    return _ArticleModel(article.lang, sentences, totals, sum(totals[0].values()))

def _worths(totals: Sequence[Counter[str]], length: float, scale: float,
            style: SummaryStyle | None) -> tuple[dict[str, float], ...]:
    """Expected count of each n-gram in an ideal summary ``scale`` units long: its share of the
    article, times the style's summary-vs-body ratio (see the module docstring)."""
    share = scale / max(length, 1.0)
    worths = tuple({key: share * count for key, count in counts.items()} for counts in totals)
    if style is not None:
        for order in (0, 1):
            lifts = style.lifts(order, worths[order])
            worth = worths[order]
            for key in worth:
                worth[key] *= lifts[key]
    return worths

def _select(sentences: Sequence[_Sentence], worths: Sequence[dict[str, float]], budget: int,
            eligible: Callable[[int], bool], max_sentences: int | None = None,
            group: Callable[[int], object] | None = None,
            counts: Sequence[Counter[str]] | None = None, per_size: bool = True) -> list[int]:
    """Greedy budgeted maximisation of covered worth, with lazy re-evaluation.

    ``per_size`` ranks by gain per unit of budget (filling a budget well); without it, by
    gain alone (a few sentences that each say much, for the overview).

    Gains only shrink as coverage grows, so a stale gain is an upper bound: the top of
    the heap is re-scored and taken only if it still beats every other bound. An n-gram
    that no other sentence has (most triples) always adds the same, so it is summed once
    instead of being tracked; ``counts`` (the n-grams of all ``sentences``) tells which.
    """
    if counts is None:
        counts = [Counter(), Counter(), Counter()]
        for sentence in sentences:
            for total, grams in zip(counts, sentence.grams):
                for key, count in grams:
                    total[key] += count
    covered: dict[str, int] = {}
    shared: dict[int, list[tuple[str, int, float]]] = {}
    own: dict[int, float] = {}
    heap = []
    for i, sentence in enumerate(sentences):
        if not sentence.size or not eligible(i):
            continue
        mine = []
        alone = 0.0
        for grams, worth, total in zip(sentence.grams, worths, counts):
            for key, count in grams:
                limit = worth.get(key, 0.0)
                if total[key] == count:
                    alone += count if count < limit else limit  # noqa: FURB136 (no call: hot loop)
                else:
                    mine.append((key, count, limit))
        shared[i], own[i] = mine, alone
        first = alone + sum(c if c < limit else limit for _, c, limit in mine)  # noqa: FURB136
        heap.append((-first / (sentence.size if per_size else 1), i))
    heapq.heapify(heap)

    def gain(i: int) -> float:
        total = own[i]
        for key, count, limit in shared[i]:
            have = covered.get(key, 0)
            if have < limit:
                total += min(have + count, limit) - have
        return total

    chosen: list[int] = []
    groups: set[object] = set()
    used = 0
    while heap and (max_sentences is None or len(chosen) < max_sentences):
        _, i = heapq.heappop(heap)
        size = sentences[i].size
        if used + size > budget or (group is not None and group(i) in groups):
            continue
        ratio = gain(i) / (size if per_size else 1)
        if heap and ratio < -heap[0][0]:
            heapq.heappush(heap, (-ratio, i))
            continue
        if ratio <= 0:
            break
        chosen.append(i)
        used += size
        if group is not None:
            groups.add(group(i))
        for key, count, _ in shared[i]:
            covered[key] = covered.get(key, 0) + count
    return chosen

def _clip(text: str, budget: int, lang: str) -> str:
    """A sentence longer than the whole budget: its head, cut after the last clause that keeps
    at least half of it, with "…" (still the article's words, in its order)."""
    if is_chinese(lang):
        size, end = 0, 0
        for end, ch in enumerate(text, start=1):
            size += not ch.isspace()
            if size >= budget:
                end -= 1
                break
        head = text[:end]
    else:
        head = " ".join(text.split()[:max(budget - 1, 1)])
    marks = [m.start() for m in _CLAUSE_END.finditer(head)]
    if marks and marks[-1] >= len(head) // 2:
        head = head[:marks[-1]]
    return head.rstrip() + "…"

def author_summary(article: Article) -> str | None:
    """The article's own summary: front matter first (it is meant as one), then a 摘要 section."""
    return article.summary or article.abstract or None

def author_text_summary(text: str, lang: str, budget: int) -> Summary:
    """An author's summary fitted to the budget: its leading sentences, without label lines
    such as "1) 一句话总结" (short lines with no closing mark followed by more text)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    lines = [line for i, line in enumerate(lines)
             if i == len(lines) - 1 or _SENTENCE_END.search(line) or summary_length(line, lang) > 16]
    sentences = [_BULLET.sub("", s.strip()) for line in lines for s in split_sentences(line) if s.strip()]
    chosen: list[str] = []
    used = 0
    for sentence in sentences:
        size = summary_length(sentence, lang)
        if used + size > budget:
            break
        chosen.append(sentence)
        used += size
    if not chosen and sentences:
        chosen = [_clip(sentences[0], budget, lang)]
    return Summary(display_text(chosen, lang), tuple(chosen), "author")


class Extractor:
    """Summaries of one library's articles: the author's, or an extract (cached, thread-safe)."""

    def __init__(self, library: Library, budget_zh: int = 150, budget_en_words: int = 55,
                 style: SummaryStyle | None | Literal["auto"] = "auto") -> None:
        """``style``: "auto" learns it from the library's author-written summaries (if there are
        enough); pass a ``SummaryStyle`` to use another, or ``None`` for none."""
        self.library = library
        self.budget_zh = budget_zh
        self.budget_en_words = budget_en_words
        self._style_setting = style
        self._style: SummaryStyle | None = None
        self._style_ready = False
        self._models: _Recent[_ArticleModel] = _Recent()
        self._summaries: _Recent[Summary] = _Recent()
        self._repeated_pieces: frozenset[str] | None = None

    def budget(self, lang: str) -> int:
        return self.budget_zh if is_chinese(lang) else self.budget_en_words

    @property
    def style(self) -> SummaryStyle | None:
        """The learned summary style (None when the library has too few author summaries)."""
        if not self._style_ready:
            setting = self._style_setting
            self._style = self._learn_style() if setting == "auto" else setting  # type: ignore[assignment]
            self._style_ready = True
        return self._style

    def _learn_style(self) -> SummaryStyle | None:
        examples = []
        for article in self.library.articles:
            written = author_summary(article)
            if written:
                body = "\n".join(text for _, text in body_paragraphs(article))
                examples.append((written, body, article.lang))
        if len(examples) < STYLE_MIN_ARTICLES:
            return None
        return SummaryStyle.learn(examples, self.library.tokenizer.normalize)

    def summarize(self, article: Article, from_body_only: bool = False) -> Summary:
        """The author's summary if the article has one (and ``from_body_only`` is false), else
        the sentences of its body that best cover what it says, within the budget."""
        key = (article.path, hash(article.paragraphs), from_body_only)
        cached = self._summaries.get(key)
        if cached is not None:
            return cached
        budget = self.budget(article.lang)
        written = None if from_body_only else author_summary(article)
        summary = (author_text_summary(written, article.lang, budget) if written
                   else self._extract(article, budget))
        self._summaries.put(key, summary)
        return summary

    def _model(self, article: Article, body_only: bool = True) -> _ArticleModel:
        key = (article.path, hash(article.paragraphs), body_only)
        model = self._models.get(key)
        if model is None:
            model = _article_model(article, body_only, self.library.tokenizer.normalize)
            self._models.put(key, model)
        return model

    def _extract(self, article: Article, budget: int) -> Summary:
        model = self._model(article)
        sentences = model.sentences
        if not sentences:
            return Summary("", (), "extract")
        worths = _worths(model.totals, model.length, REFERENCE_SCALE * budget, self.style)
        usable = [self._usable(s, model.chinese) for s in sentences]
        if not any(usable):
            usable = [True] * len(sentences)
        chosen = sorted(_select(sentences, worths, budget, usable.__getitem__, counts=model.totals))
        if not chosen:
            best = usable.index(True)
            clipped = _clip(sentences[best].candidate.text, budget, article.lang)
            return Summary(display_text([clipped], article.lang), (clipped,), "extract",
                           (sentences[best].candidate.paragraph,))
        texts = tuple(sentences[i].candidate.text for i in chosen)
        return Summary(display_text(texts, article.lang), texts, "extract",
                       tuple(sentences[i].candidate.paragraph for i in chosen))

    def _usable(self, sentence: _Sentence, chinese: bool) -> bool:
        """Whether a sentence can stand in a summary: long enough to say something, a sentence
        rather than a caption or a run of list lines, and not the site's boilerplate."""
        minimum = MIN_UNITS["zh" if chinese else "en"]
        text = sentence.candidate.text
        if not _SENTENCE_END.search(text):
            minimum *= UNTERMINATED_FACTOR
        return (sentence.units >= minimum and text.count("\n") < MAX_LINES
                and not _BOILERPLATE.search(text) and not self._repeated_text(text))

    def _repeated_text(self, text: str) -> bool:
        """Mostly made of sentences that several articles share word for word (disclaimers,
        promotions, source credits): the site's text, not the article's."""
        repeated = self._repeated()
        if not repeated:
            return False
        pieces = [p.strip(" •") for p in _PIECES.split(text)]
        shared = sum(len(p) for p in pieces if p in repeated)
        return shared * 2 >= len(text.strip())

    def _repeated(self) -> frozenset[str]:
        if self._repeated_pieces is None:
            seen: Counter[str] = Counter()
            for article in self.library.articles:
                paragraphs = article.paragraphs
                edges = paragraphs if len(paragraphs) <= 2 * EDGE_PARAGRAPHS else (
                    paragraphs[:EDGE_PARAGRAPHS] + paragraphs[-EDGE_PARAGRAPHS:])
                seen.update({piece.strip(" •") for p in edges for piece in _PIECES.split(p.text)
                             if len(piece) >= MIN_REPEATED_CHARS})
            self._repeated_pieces = frozenset(k for k, n in seen.items() if n >= REPEATED_IN)
        return self._repeated_pieces

    def overview(self, articles: Sequence[Article], max_sentences: int = OVERVIEW_SENTENCES) -> tuple[
            OverviewSentence, ...]:
        """Sentences from different articles that together cover what they say (multi-document).

        The pool is each article's summary sentences; what they should cover is the articles'
        pooled n-gram shares, each article weighing the same, so that a long article does not
        drown the others and two reports of the same news are not both quoted.
        """
        pool: list[_Sentence] = []
        owners: list[Article] = []
        shares: tuple[dict[str, float], dict[str, float], dict[str, float]] = ({}, {}, {})
        for article in articles:
            for share, counts in zip(shares, self._model(article).totals):
                size = sum(counts.values())
                for key, count in counts.items():
                    share[key] = share.get(key, 0.0) + count / size
            summary = self.summarize(article)
            paragraphs = summary.paragraphs or (-1,) * len(summary.sentences)
            candidates = [Candidate(text, paragraph, len(pool) + n)
                          for n, (text, paragraph) in enumerate(zip(summary.sentences, paragraphs))]
            pool.extend(_sentences(candidates, article.lang, self.library.tokenizer.normalize)[0])
            owners.extend([article] * len(candidates))
        if not pool:
            return ()
        budget = 2 * max(self.budget(a.lang) for a in articles)
        scale = REFERENCE_SCALE * budget / len(articles)
        worths = tuple({key: scale * share for key, share in order.items()} for order in shares)
        chosen = sorted(_select(pool, worths, budget, lambda i: True, max_sentences,
                                group=lambda i: owners[i].path, per_size=False))
        return tuple(OverviewSentence(display_text([pool[i].candidate.text], owners[i].lang), owners[i])
                     for i in chosen)

    def warm(self) -> None:
        """Learn the summary style and find the repeated sentences now (the first summary would)."""
        _ = self.style
        self._repeated()


V = TypeVar("V")


class _Recent(Generic[V]):
    """The values asked for lately, at most CACHE_SIZE: safe when handlers read and add from several
    threads at once (a get, a move to the end and an eviction are one step under the lock)."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[object, ...], V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[object, ...], value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > CACHE_SIZE:
                self._items.popitem(last=False)
