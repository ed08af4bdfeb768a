"""Question → ranked passages → an Answer: quotes with their best sentence and matched terms.

Nothing here invents text: an excerpt is a verbatim slice of one paragraph, and every quote
carries its article. Below the relevance floor (the share of the question's idf weight a
passage matches) the answer says nothing answers it and suggests tags instead: a weak
quote shown with confidence is worse than none.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from bot.errors import QuestionError
from bot.search.articles import Article, Paragraph
from bot.search.dates import DateSpan
from bot.search.library import Library, Passage
from bot.search.markup import MAX_PARAGRAPH_CHARS
from bot.search.query import Correction, Query, Sentences, Span
from bot.search.ranking import HEAD, Ranker, Table, candidates, signals
from bot.search.reading import Reader, check_question
from bot.search.tokens import Tokenizer

__all__ = ["Answer", "Answerer", "Quote", "check_question", "find_marks"]

EXCERPT_CHARS = MAX_PARAGRAPH_CHARS
"""Quotes longer than this are trimmed to the sentences around the best one: since indexing splits longer
blocks, a quote is its whole paragraph (cut at 320 characters, cmrc's answers as shown lost 6 points)."""
FILLER_RATIO = 0.55
"""A quote scoring under this share of the first quote's score is filler: not shown, not offered by More
(chosen on the project's reader questions and cmrc, benchmarks/filler.py: with the ranker's scores it hides a
gold passage ranked 2–5 for ≤ 1.7 % of questions, never the only one, and removes 30–73 % of the quotes
ranked 2–5, 97–99 % of them without an answer; on the shared news questions 0.5 % / 30 %)."""


@dataclass(frozen=True)
class Quote:
    """One quoted passage: where it comes from, what to show, what to highlight."""

    article: Article
    paragraph: Paragraph
    score: float
    relevance: float
    excerpt: str
    sentence: Span
    """The answering sentence's span inside ``excerpt``."""
    marks: tuple[Span, ...]
    """Spans of matched question terms inside ``excerpt``, sorted, non-overlapping."""
    matched_terms: tuple[str, ...]
    """The matched words as the article writes them, for "why it matched"."""

    @property
    def sentence_text(self) -> str:
        return self.excerpt[self.sentence[0]:self.sentence[1]]


@dataclass(frozen=True)
class Answer:
    """Quotes for a question (one page of them) or, when nothing answers, suggestions."""

    question: str
    quotes: tuple[Quote, ...]
    total: int
    """How many quotes pass the relevance floor, across all pages."""
    offset: int = 0
    suggestions: tuple[str, ...] = ()
    date: DateSpan | None = None
    """The date the question named, which the ranking preferred: the reply says which."""
    corrections: tuple[Correction, ...] = ()
    searched: str = ""
    """The question as searched when words were corrected: "showing results for …"."""

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.quotes) < self.total


class Answerer:
    """Turns questions into answers over one library."""

    def __init__(self, library: Library, min_relevance: float = 0.3, max_question_chars: int = 1000,
                 filler_ratio: float = FILLER_RATIO, ranker: Ranker | None = None, reader: Reader | None = None) -> None:
        self.library = library
        self.min_relevance = min_relevance
        self.filler_ratio = filler_ratio
        self.ranker = ranker or Ranker()
        self.reader = reader or Reader(library, max_question_chars)

    def tokens(self, question: str) -> list[str]:
        """The question's search tokens (a QuestionError when it is empty, too long or has none)."""
        return self.reader.tokens(check_question(question, self.reader.max_question_chars))

    def query(self, question: str, context: str = "") -> Query:
        """The question resolved once. ``context`` is the question a follow-up replies to ("那 R1 呢？"
        after a question about V3): its key terms join the new question's own."""
        return self.reader.read(question, self.key_terms(context) if context else None)

    def retrieve(self, question: str, k: int) -> list[Passage]:
        """Ranked passages, several per article allowed (what the evaluation measures)."""
        return self.ranked(self.query(question), k)[0]

    def ranked(self, query: Query, k: int) -> tuple[list[Passage], dict[int, Sentences]]:
        """The candidates in the ranker's order (their score is then the ranker's), and the sentences of
        its head, weighed once for ranking and again for quoting."""
        passages = candidates(self.library, query, k)
        head, table, sentences = self.signals(query, passages)
        order = self.ranker.scores(table)
        head = sorted((replace(p, score=float(score)) for p, score in zip(head, order)), key=lambda p: -p.score)
        floor = min((p.score for p in head), default=0.0)
        tail = [replace(p, score=min(p.score, floor)) for p in passages[len(head):]]
        return (head + tail)[:max(k, len(head))], sentences

    def signals(self, query: Query, passages: Sequence[Passage]) -> tuple[list[Passage], Table, dict[int, Sentences]]:
        """The head of the candidates, its signals table (what the ranker weighs, and the fit reads) and
        its passages' sentences."""
        head = list(passages[:HEAD])
        sentences = {p.index: Sentences.of(p, query, self.library) for p in head}
        return head, signals(self.library, query, head, sentences), sentences

    def key_terms(self, question: str, n: int = 3) -> list[str]:
        """The question's rarest words that the corpus knows: what a follow-up carries over.

        Overlapping pieces of one word (浏览器, 浏览, 览器) count once, so n terms are n ideas.
        """
        try:
            tokens = self.tokens(question)
        except QuestionError:
            return []
        index = self.library.index
        known = [t for t in dict.fromkeys(tokens) if index.knows(t)]
        picked: list[str] = []
        for token in sorted(known, key=lambda t: (-index.idf(t), -len(t))):
            if not any(token in p or p in token for p in picked):
                picked.append(token)
        return picked[:n]

    def answer(self, question: str, k: int = 3, offset: int = 0, per_article: int = 1,
               context: str = "") -> Answer:
        """The page of quotes at ``offset``; at most ``per_article`` quotes from one article.

        ``context`` is the question a follow-up replies to: see ``query``.
        """
        query = self.query(question, context)
        passages, sentences = self.ranked(query, HEAD)
        passages = passages[:HEAD]
        kept: list[tuple[Passage, float]] = []
        per: Counter[int] = Counter()
        for passage, relevance in zip(passages, self.relevance(passages, query)):
            if relevance < self.min_relevance or per[passage.article_no] >= per_article:
                continue
            per[passage.article_no] += 1
            kept.append((passage, relevance))
        if not kept:
            return Answer(question, (), 0, 0, self.suggestions(passages), query.date, query.corrections,
                          query.corrected)
        floor = kept[0][0].score * self.filler_ratio
        kept = [(p, relevance) for p, relevance in kept if p.score >= floor]
        page = kept[offset:offset + k]
        quotes = tuple(self._quote(p, relevance, query, sentences.get(p.index) or Sentences.of(p, query, self.library))
                       for p, relevance in page)
        return Answer(question, quotes, len(kept), offset, (), query.date, query.corrections, query.corrected)

    def relevance(self, passages: Sequence[Passage], query: Query) -> list[float]:
        """Share of the question's idf weight each passage (with its heading and title) contains."""
        return query.share_held(self.library.index, [p.index for p in passages])

    def _quote(self, passage: Passage, relevance: float, query: Query, sentences: Sentences) -> Quote:
        text = passage.paragraph.text
        best = sentences.best()
        start, end = _window(sentences.around(best), best, EXCERPT_CHARS)
        excerpt = text[start:end].strip()
        shift = start + (len(text[start:end]) - len(text[start:end].lstrip()))
        sentence = (max(0, best[0] - shift), min(len(excerpt), best[1] - shift))
        tokens = list(query.term_ids)
        held = self.library.index.holding([query.term_ids[t] for t in tokens], [passage.index])[:, 0]
        matched = [token for token, present in zip(tokens, held) if present]
        marks = find_marks(excerpt, matched, self.library.tokenizer)
        terms = tuple(dict.fromkeys(excerpt[a:b] for a, b in marks))
        if start > 0:
            excerpt, sentence, marks = "…" + excerpt, _shift(sentence, 1), tuple(_shift(m, 1) for m in marks)
        if end < len(text):
            excerpt += "…"
        return Quote(passage.article, passage.paragraph, passage.score, relevance, excerpt, sentence,
                     marks, terms)

    @cached_property
    def _biggest_tags(self) -> list[str]:
        """Tags by article count, counted once per library (not per unanswered question)."""
        return [tag for tag, _ in self.library.tag_counts.most_common()]

    def suggestions(self, passages: Sequence[Passage], limit: int = 5) -> tuple[str, ...]:
        """Tags worth trying: those of the nearest misses first, then the biggest tags."""
        counts: Counter[str] = Counter(tag for p in passages[:20] for tag in p.article.tags)
        for tag in self._biggest_tags[:limit]:
            counts.setdefault(tag, 0)
        return tuple(tag for tag, _ in counts.most_common(limit))


def _shift(span: Span, by: int) -> Span:
    return (span[0] + by, span[1] + by)


def _window(sentences: list[Span], best: Span, limit: int) -> Span:
    """The best sentence, widened by neighbours (following ones first) while it fits the limit."""
    i = sentences.index(best)
    lo, hi = i, i
    start, end = best
    while True:
        grown = False
        if hi + 1 < len(sentences) and sentences[hi + 1][1] - start <= limit:
            hi += 1
            end = sentences[hi][1]
            grown = True
        if lo > 0 and end - sentences[lo - 1][0] <= limit:
            lo -= 1
            start = sentences[lo][0]
            grown = True
        if not grown:
            return (start, end)


def find_marks(text: str, tokens: Sequence[str], tokenizer: Tokenizer) -> tuple[Span, ...]:
    """Where the matched tokens occur in ``text`` (compared in normalised form), merged into spans.

    Highlights are whole words of the question: a Latin word is marked when its own tokens meet the
    question's (so "earnings" lights up for "earned", "14bn" for "$14 billion", never "ai" inside
    "said"), and a lone Chinese character never is (钱 of 幾錢 is not the 錢 of the name 錢敏義).
    """
    folded = tokenizer.normalize(text)
    if len(folded) != len(text):
        folded = text.lower()
    spans: list[Span] = []
    latin = set()
    for token in tokens:
        if token.isascii():
            latin.add(token)
        elif len(token) > 1:
            spans.extend(match.span() for match in re.finditer(re.escape(token), folded))
    if latin:
        spans.extend(_latin_marks(folded, latin, tokenizer))
    spans.sort()
    merged: list[Span] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return tuple(merged)


_APART = str.maketrans("-_'’+&", "      ")


def _latin_marks(folded: str, latin: set[str], tokenizer: Tokenizer) -> Iterator[Span]:
    """Spans of the Latin words whose tokens the question holds; of a hyphenated word asked only in
    part (v3 of deepseek-v3), just that part."""
    for start, end, tokens in tokenizer.latin_words(folded):
        if latin.isdisjoint(tokens):
            continue
        word = folded[start:end]
        parts = word.translate(_APART)
        if tokens[0] in latin or parts == word:
            yield start, end
            continue
        for part_start, part_end, part_tokens in tokenizer.latin_words(parts):
            if not latin.isdisjoint(part_tokens):
                yield start + part_start, start + part_end
