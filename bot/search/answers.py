"""Question → ranked passages → an Answer: quotes with their best sentence and matched terms.

Nothing here invents text: an excerpt is a verbatim slice of one paragraph, and every quote
carries its article. Below the relevance floor (the share of the question's idf weight a
passage matches) the answer says nothing answers it and suggests tags instead: a weak
quote shown with confidence is worse than none.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from bot.errors import QuestionError
from bot.search.articles import Article, Paragraph
from bot.search.library import Library, Passage
from bot.search.markup import split_sentences

EXCERPT_CHARS = 320
"""Quotes longer than this are trimmed to the sentences around the best one."""
CANDIDATES = 60
"""Passages fetched per question before keeping one per article."""
RERANK_DEPTH = 20
"""BM25's top passages re-ordered by how much of the question one of their sentences holds."""
PROXIMITY_WEIGHT = 1.0
"""Score added per unit of idf found together in one sentence (measured: +1.5–2.4 points recall@1)."""
FILLER_RATIO = 0.4
"""A quote scoring under this share of the first quote's score is filler: not shown, not offered by More
(chosen on the evaluation sets, benchmarks/filler.py: it hides a gold passage ranked 2–5 for ≤ 2 % of questions)."""
NUMBER_BOOST = 1.25
"""Sentence weight multiplier for sentences with a number, when the question asks for one."""
_NUMBER_QUESTION = re.compile(r"多少|几[个年月日天岁次倍成名家位种条]|多[大长高远久重快]|哪一?年|何时|什么时候|几时|比例|"
                              r"\bhow (much|many|long|old|far|big)\b|\bwhat (year|percentage|price)\b|\bwhen\b")
_DIGIT = re.compile(r"\d")

Span = tuple[int, int]


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

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.quotes) < self.total


def check_question(question: str, max_chars: int) -> str:
    """The question stripped, or a QuestionError that tells the user what to send instead."""
    text = question.strip()
    if not text:
        raise QuestionError("Please type a question, e.g. “DeepSeek V3 的训练成本是多少？”.")
    if len(text) > max_chars:
        raise QuestionError(f"That question is {len(text):,} characters long; please keep it under "
                            f"{max_chars:,} characters (a sentence or a few keywords work best).")
    return text


class Answerer:
    """Turns questions into answers over one library."""

    def __init__(self, library: Library, min_relevance: float = 0.3, max_question_chars: int = 1000,
                 filler_ratio: float = FILLER_RATIO) -> None:
        self.library = library
        self.min_relevance = min_relevance
        self.max_question_chars = max_question_chars
        self.filler_ratio = filler_ratio

    def tokens(self, question: str) -> list[str]:
        """The question's search tokens. Bigrams no article holds are dropped: they find nothing, and
        counted in the question's weight they would sink every passage below the relevance floor."""
        text = check_question(question, self.max_question_chars)
        tokenizer, index = self.library.tokenizer, self.library.index
        words = set(tokenizer.words(text))
        every = tokenizer(text)
        tokens = [t for t in every if t in words or index.knows(t)] or every
        if not tokens:
            raise QuestionError("I found no words to search for in that. Try a few keywords, "
                                "e.g. “DeepSeek 训练成本” or “Nvidia earnings”.")
        return tokens

    def retrieve(self, question: str, k: int) -> list[Passage]:
        """Ranked passages, several per article allowed (what the evaluation measures)."""
        tokens = self.tokens(question)
        return self._ranked(question, tokens, self._weights(tokens), k)

    def _weights(self, tokens: Sequence[str]) -> dict[str, float]:
        return {token: self.library.index.idf(token) for token in dict.fromkeys(tokens)}

    def _ranked(self, question: str, tokens: Sequence[str], weights: dict[str, float], k: int) -> list[Passage]:
        """BM25's ranking, with its head re-ordered by sentence-level proximity (their score is then
        BM25's plus the proximity bonus, the score they are ranked by).

        A passage whose single sentence holds most of the question's words usually answers
        it; one that scatters them over unrelated sentences usually does not. A question
        asking for a quantity or a date (多少, 几, how much, when …) prefers sentences with a number.
        """
        passages = self.library.search(tokens, max(k, RERANK_DEPTH))
        normalize = self.library.tokenizer.normalize
        wants_number = bool(_NUMBER_QUESTION.search(normalize(question)))
        head = passages[:RERANK_DEPTH]

        def best_sentence(text: str) -> float:
            return max(sentence_weight(normalize(s), weights) * (NUMBER_BOOST if wants_number and _DIGIT.search(s)
                                                                  else 1.0) for s in _sentences(text))

        head = [replace(p, score=p.score + PROXIMITY_WEIGHT * best_sentence(p.paragraph.text)) for p in head]
        head.sort(key=lambda p: -p.score)
        return (head + passages[RERANK_DEPTH:])[:k]

    def key_terms(self, question: str, n: int = 3) -> list[str]:
        """The question's rarest words that the corpus knows: what a follow-up carries over.

        Overlapping pieces of one word (浏览器, 浏览, 览器) count once, so n terms are n ideas.
        """
        try:
            tokens = self.tokens(question)
        except QuestionError:
            return []
        known = [t for t in dict.fromkeys(tokens) if self.library.index.knows(t)]
        picked: list[str] = []
        for token in sorted(known, key=lambda t: (-self.library.index.idf(t), -len(t))):
            if not any(token in p or p in token for p in picked):
                picked.append(token)
        return picked[:n]

    def answer(self, question: str, k: int = 3, offset: int = 0, per_article: int = 1,
               context: str = "") -> Answer:
        """The page of quotes at ``offset``; at most ``per_article`` quotes from one article.

        ``context`` is the question a follow-up replies to ("那 R1 呢？" after a question about
        V3): its key terms join the new question's own.
        """
        tokens = self.tokens(question)
        if context:
            tokens += [t for t in self.key_terms(context) if t not in tokens]
        weights = self._weights(tokens)
        passages = self._ranked(question, tokens, weights, CANDIDATES)
        kept: list[tuple[Passage, float]] = []
        per: Counter[str] = Counter()
        for passage, relevance in zip(passages, self.relevance(passages, weights)):
            if relevance < self.min_relevance or per[passage.article.path] >= per_article:
                continue
            per[passage.article.path] += 1
            kept.append((passage, relevance))
        if not kept:
            return Answer(question, (), 0, 0, self.suggestions(passages))
        floor = kept[0][0].score * self.filler_ratio
        kept = [(p, relevance) for p, relevance in kept if p.score >= floor]
        page = kept[offset:offset + k]
        quotes = tuple(self._quote(p, relevance, weights) for p, relevance in page)
        return Answer(question, quotes, len(kept), offset)

    def relevance(self, passages: Sequence[Passage], weights: dict[str, float]) -> list[float]:
        """Share of the question's idf weight each passage (with its heading and title) contains.

        Read from the index's postings, so no passage is tokenized again.
        """
        total = sum(weights.values())
        if total <= 0 or not passages:
            return [0.0] * len(passages)
        matched = self.library.index.matched_weight(weights, [p.index for p in passages])
        return [m / total for m in matched]

    def _quote(self, passage: Passage, relevance: float, weights: dict[str, float]) -> Quote:
        text = passage.paragraph.text
        tokenizer = self.library.tokenizer
        sentences = _sentence_spans(text)
        best = max(sentences, key=lambda span: (sentence_weight(tokenizer.normalize(text[span[0]:span[1]]),
                                                                weights), -span[0]))
        start, end = _window(sentences, best, EXCERPT_CHARS)
        excerpt = text[start:end].strip()
        shift = start + (len(text[start:end]) - len(text[start:end].lstrip()))
        sentence = (max(0, best[0] - shift), min(len(excerpt), best[1] - shift))
        matched = [t for t in weights if t in set(tokenizer(excerpt))]
        marks = find_marks(excerpt, matched, tokenizer.normalize)
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


def _sentence_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    position = 0
    for sentence in split_sentences(text):
        spans.append((position, position + len(sentence)))
        position += len(sentence)
    return [s for s in spans if text[s[0]:s[1]].strip()] or [(0, len(text))]


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in _sentence_spans(text)]


def sentence_weight(normalized: str, weights: dict[str, float]) -> float:
    """Summed weight of the tokens that occur in an already-normalised sentence.

    Tokens are substrings of the normalised text they came from, so a substring test finds
    them without running jieba again; Latin tokens must match whole words or word parts.
    """
    words: set[str] | None = None
    total = 0.0
    for token, weight in weights.items():
        if token.isascii():
            if words is None:
                words = set(_LATIN_WORD.findall(normalized)) | set(_LATIN_PART.findall(normalized))
            found = token in words
        else:
            found = token in normalized
        if found:
            total += weight
    return total


_LATIN_WORD = re.compile(r"[a-z0-9]+(?:[.\-_'’+&][a-z0-9]+)*")
_LATIN_PART = re.compile(r"[a-z0-9]+")


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


def find_marks(text: str, tokens: Sequence[str], normalize: Callable[[str], str]) -> tuple[Span, ...]:
    """Where the matched tokens occur in ``text`` (compared in normalised form), merged into spans.

    Latin tokens match whole words only ("ai" must not light up inside "said").
    """
    folded = normalize(text)
    if len(folded) != len(text):
        folded = text.lower()
    spans: list[Span] = []
    for token in tokens:
        pattern = re.escape(token)
        if token.isascii():
            pattern = rf"(?<![a-z0-9]){pattern}(?![a-z0-9])"
        spans.extend(match.span() for match in re.finditer(pattern, folded))
    spans.sort()
    merged: list[Span] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return tuple(merged)
