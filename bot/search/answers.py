"""Question → ranked passages → an Answer: quotes with their best sentence and matched terms.

Nothing here invents text: an excerpt is a verbatim slice of one paragraph, and every quote
carries its article. Below the relevance floor (the share of the question's idf weight a
passage matches) the answer says nothing answers it and suggests tags instead: a weak
quote shown with confidence is worse than none.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from bot.errors import QuestionError
from bot.search.articles import Article, Paragraph
from bot.search.index import BM25Index, Terms
from bot.search.library import Library, Passage
from bot.search.markup import sentence_spans
from bot.search.tokens import Tokenizer

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


@dataclass(frozen=True)
class Query:
    """A question resolved once, then handed down: search, ranking, the relevance floor and every
    quote read it instead of tokenizing, normalising or looking up terms again."""

    text: str
    tokens: tuple[str, ...]
    weights: dict[str, float]
    """Each distinct token's idf: the question's weight, and what a sentence or passage matches of it."""
    term_ids: dict[str, int]
    """The tokens some paragraph holds, with their term ids."""
    terms: Terms
    wants_number: bool
    """Whether it asks for a quantity or a date (多少, 几, how much, when …)."""

    @property
    def total(self) -> float:
        return sum(self.weights.values())

    @cached_property
    def split_weights(self) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """(Chinese tokens, Latin tokens) with their weights: found in a sentence in different ways."""
        chinese = [(token, weight) for token, weight in self.weights.items() if not token.isascii()]
        latin = [(token, weight) for token, weight in self.weights.items() if token.isascii()]
        return chinese, latin

    @classmethod
    def of(cls, library: Library, tokens: Sequence[str], text: str = "") -> Query:
        """A query of already chosen tokens (an Answerer's question, a name a digest looks for)."""
        index = library.index
        times = Counter(tokens)
        term_ids = {token: term for token in times if (term := index.term(token)) is not None}
        weights = {token: float(index.idfs[term_ids[token]]) if token in term_ids else index.idf(token)
                   for token in times}
        wants_number = bool(_NUMBER_QUESTION.search(library.tokenizer.normalize(text))) if text else False
        return cls(text, tuple(tokens), weights, term_ids,
                   index.ordered({term: times[token] for token, term in term_ids.items()}), wants_number)

    def share_held(self, index: BM25Index, paragraphs: Sequence[int]) -> list[float]:
        """Share of the query's weight each paragraph (with its heading and title) holds, read from the
        index's postings: nothing is tokenized again."""
        total = self.total
        if total <= 0 or not paragraphs:
            return [0.0] * len(paragraphs)
        weights = {term: self.weights[token] for token, term in self.term_ids.items()}
        return [held / total for held in index.matched_weight(weights, paragraphs)]


class _Sentences:
    """A passage's sentences as one question sees them: spans, the question's weight each holds, and
    whether each holds a number. Made once per passage, for ranking and then for quoting it."""

    def __init__(self, paragraph: Paragraph, query: Query, tokenizer: Tokenizer,
                 boilerplate: Sequence[bool] = ()) -> None:
        self.text = paragraph.text
        folded = paragraph.folded or [tokenizer.normalize(self.text[a:b]) for a, b in self.spans]
        chinese, latin = query.split_weights
        self.boilerplate = list(boilerplate) or [False] * len(folded)
        """Lines the source repeats everywhere: never the answering sentence, never in the excerpt."""
        self.weights = [0.0 if boiler else _weigh(piece, chinese, latin, tokenizer.latin_tokens)
                        for piece, boiler in zip(folded, self.boilerplate)]
        self.numbers = [bool(_DIGIT.search(piece)) for piece in folded]

    @classmethod
    def of(cls, passage: Passage, query: Query, library: Library) -> _Sentences:
        paragraph = passage.paragraph
        return cls(paragraph, query, library.tokenizer, library.boilerplate.lines(passage.article, paragraph))

    @cached_property
    def spans(self) -> list[Span]:
        """Where the sentences are in the passage (needed only to quote it)."""
        return sentence_spans(self.text)

    def bonus(self, wants_number: bool) -> float:
        """The weight of the question one sentence holds: a passage that answers usually says it in one."""
        return max(weight * (NUMBER_BOOST if wants_number and number else 1.0)
                   for weight, number in zip(self.weights, self.numbers))

    def best(self) -> Span:
        """The answering sentence: the most of the question's weight, the earliest of equals (never boilerplate)."""
        return self.spans[max(range(len(self.spans)),
                              key=lambda i: (not self.boilerplate[i], self.weights[i], -self.spans[i][0]))]

    def around(self, best: Span) -> list[Span]:
        """The sentences an excerpt may hold: the run around the best one that no boilerplate line breaks."""
        i = self.spans.index(best)
        lo, hi = i, i
        while lo > 0 and not self.boilerplate[lo - 1]:
            lo -= 1
        while hi + 1 < len(self.spans) and not self.boilerplate[hi + 1]:
            hi += 1
        return self.spans[lo:hi + 1]


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

    def query(self, question: str, context: str = "") -> Query:
        """The question resolved once. ``context`` is the question a follow-up replies to ("那 R1 呢？"
        after a question about V3): its key terms join the new question's own."""
        tokens = self.tokens(question)
        if context:
            tokens += [t for t in self.key_terms(context) if t not in tokens]
        return Query.of(self.library, tokens, question)

    def retrieve(self, question: str, k: int) -> list[Passage]:
        """Ranked passages, several per article allowed (what the evaluation measures)."""
        return self._ranked(self.query(question), k)[0]

    def _ranked(self, query: Query, k: int) -> tuple[list[Passage], dict[int, _Sentences]]:
        """BM25's ranking, with its head re-ordered by sentence-level proximity (their score is then
        BM25's plus the proximity bonus, the score they are ranked by); and the head's sentences.

        A passage whose single sentence holds most of the question's words usually answers
        it; one that scatters them over unrelated sentences usually does not. A question
        asking for a quantity or a date prefers sentences with a number.
        """
        passages = self.library.search(query.terms, max(k, RERANK_DEPTH))
        head = passages[:RERANK_DEPTH]
        sentences = {p.index: _Sentences.of(p, query, self.library) for p in head}
        head = [replace(p, score=p.score + PROXIMITY_WEIGHT * sentences[p.index].bonus(query.wants_number))
                for p in head]
        head.sort(key=lambda p: -p.score)
        return (head + passages[RERANK_DEPTH:])[:k], sentences

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
        passages, sentences = self._ranked(query, CANDIDATES)
        kept: list[tuple[Passage, float]] = []
        per: Counter[int] = Counter()
        for passage, relevance in zip(passages, self.relevance(passages, query)):
            if relevance < self.min_relevance or per[passage.article_no] >= per_article:
                continue
            per[passage.article_no] += 1
            kept.append((passage, relevance))
        if not kept:
            return Answer(question, (), 0, 0, self.suggestions(passages))
        floor = kept[0][0].score * self.filler_ratio
        kept = [(p, relevance) for p, relevance in kept if p.score >= floor]
        page = kept[offset:offset + k]
        quotes = tuple(self._quote(p, relevance, query, sentences.get(p.index) or _Sentences.of(p, query, self.library))
                       for p, relevance in page)
        return Answer(question, quotes, len(kept), offset)

    def relevance(self, passages: Sequence[Passage], query: Query) -> list[float]:
        """Share of the question's idf weight each passage (with its heading and title) contains."""
        return query.share_held(self.library.index, [p.index for p in passages])

    def _quote(self, passage: Passage, relevance: float, query: Query, sentences: _Sentences) -> Quote:
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


def sentence_weight(normalized: str, weights: dict[str, float],
                    latin_tokens: Callable[[str], set[str]]) -> float:
    """Summed weight of the tokens that occur in an already-normalised sentence.

    Tokens are substrings of the normalised text they came from, so a substring test finds
    them without running jieba again; Latin tokens must match whole tokens (``latin_tokens``:
    the tokenizer's own words of the text), so "ai" is not found in "said".
    """
    return _weigh(normalized, [(t, w) for t, w in weights.items() if not t.isascii()],
                  [(t, w) for t, w in weights.items() if t.isascii()], latin_tokens)


def _weigh(normalized: str, chinese: list[tuple[str, float]], latin: list[tuple[str, float]],
           latin_tokens: Callable[[str], set[str]]) -> float:
    total = sum(weight for token, weight in chinese if token in normalized)
    if latin:
        words = latin_tokens(normalized)
        total += sum(weight for token, weight in latin if token in words)
    return total


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
