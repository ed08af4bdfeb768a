"""How a reader's question is read: the words to search for, the words it misspelt, the date it names.

- Words: the tokenizer's, less the bigrams no article holds (they find nothing, and counted in the
  question's weight they would sink every passage below the relevance floor).
- Misspellings: a reader types 梁文峰 for 梁文锋, "nvidai" for "nvidia". Chinese names are read three
  characters at a time: when no paragraph holds a window's two bigrams together (梁文 + 文峰) but many
  hold them with one character swapped for a homophone (梁文 + 文锋), the question is read with the
  swap. Judging by context, not by frequency alone, keeps real but rare words (a bigram that spans
  two words of the question is as absent as a misspelt name, and usually has a common homophone).
  Latin words the collection lacks are read as the collection's word one edit away. A corrected word
  weighs ``CORRECTED_WEIGHT`` of a word typed right, and the answer says what it searched for.
- Dates: ``dates.find_date``, counted from the collection's newest article (or today, if sooner).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property

from bot.errors import QuestionError
from bot.search.dates import DAY, DateSpan, anchor_date, find_date
from bot.search.library import Library
from bot.search.query import Correction, Query
from bot.search.spelling import Speller
from bot.search.tokens import STOP_CHARACTERS, STOPWORDS

CORRECTED_WEIGHT = 0.8
"""A corrected word's weight against one typed right: the reader may have meant what they typed."""
TOGETHER = 2
"""A window whose bigrams this many paragraphs hold together is a known phrase: nothing to correct."""
RARE_BIGRAM = 50
"""Only a window with a bigram this rare or rarer is checked (a common pair is no typo; checking is cheap
then, since the rarer postings list is short)."""
MIN_SUPPORT = 2
"""How many paragraphs must hold the corrected window's bigrams together (a name written once may be
the collection's own typo) …"""
DOMINANCE = 5
"""… and how many times more than hold the typed one's."""
WORD_DOMINANCE = 3
"""How many times more paragraphs must hold a word with a character swapped than hold it as typed."""
RARE_TYPED = 2
"""A character is swapped only where the bigrams it makes with its neighbours in the window are this rare:
a typo makes pairs the collection (nearly) never writes, as 洪祎 of 周洪祎; 降到 of "会降到多少" is common."""
CONTEXT_SHARE = 0.3
"""How much of the rest of the question a paragraph writing the corrected name must hold."""
CHECKED = 3
"""Swaps (the best supported first) whose phrase is looked for in the paragraphs' text."""
SAMPLE = 12
MIN_WRITTEN = 3
"""Of ``SAMPLE`` paragraphs holding a swap's two bigrams, how many must hold its phrase in a row."""

YEARS_BACK = 9
"""How many years back a day named without its year is looked for (every 2月29日 is within eight)."""
_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"(?<!\d)(19|20)\d\d(?!\d)")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_LATIN_WORD = re.compile(r"[a-z]{5,}")


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
class _Swap:
    at: int
    meant: str
    support: int


class Reader:
    """Reads questions against one library (its vocabulary, its dates)."""

    def __init__(self, library: Library, max_question_chars: int = 1000,
                 today: Callable[[], date] = date.today) -> None:
        self.library = library
        self.max_question_chars = max_question_chars
        self.today = today

    @cached_property
    def speller(self) -> Speller:
        index = self.library.index
        return Speller(index.terms, index.frequencies)

    def warm(self) -> None:
        """Build the speller's tables now (about a second on 80k paragraphs), not at the first misspelling."""
        self.speller.warm()

    def tokens(self, text: str) -> list[str]:
        """The question's search tokens; a QuestionError when it has none."""
        tokenizer, index = self.library.tokenizer, self.library.index
        words = set(tokenizer.words(text))
        seams = tokenizer.seams(text)
        every = tokenizer(text)
        tokens = [t for t in every if t in words or (t not in seams and index.knows(t))] or every
        if not tokens:
            raise QuestionError("I found no words to search for in that. Try a few keywords, "
                                "e.g. “DeepSeek 训练成本” or “Nvidia earnings”.")
        return tokens

    def read(self, question: str, carried: list[str] | None = None) -> Query:
        """The question resolved: ``carried`` are key terms of the question a follow-up replies to."""
        text = check_question(question, self.max_question_chars)
        corrected, corrections = self.corrected(text)
        tokens = self.tokens(corrected)
        scale: dict[str, float] = {}
        if corrections:
            typed = set(self.library.tokenizer(text))
            scale = {token: CORRECTED_WEIGHT for token in tokens if token not in typed}
        if carried:
            tokens += [t for t in carried if t not in tokens]
        span = self.date(text)
        if span is not None:
            # The article's date answers the date's words ("2月11日", "Feb 12"): they are still searched
            # (a report may write its day), but a passage is not judged by whether it repeats them.
            scale.update(dict.fromkeys(self.library.tokenizer(span.text), 0.0))
        return Query.of(self.library, tokens, text, scale, span, corrections, corrected if corrections else "")

    def date(self, text: str) -> DateSpan | None:
        """The date the question names. A day named without its year ("2月13日", "Feb 12") is the one, of
        that day in the years up to the anchor, that the collection has most articles of (the latest of
        equals): a collection of last year's news, read this year, still means last year's 2月13日."""
        anchor = anchor_date(self.library.newest, self.today())
        span = find_date(text, anchor)
        if span is None or span.kind != DAY or not _DIGIT.search(span.text) or _YEAR.search(span.text):
            return span
        best, most = span, 0
        for year in range(span.start.year, span.start.year - YEARS_BACK, -1):
            try:
                day = span.start.replace(year=year)
            except ValueError:  # 2月29日 in a common year
                continue
            count = self.library.articles_of(day, day) if day <= anchor else 0
            if count > most:
                best, most = replace(span, start=day, end=day), count
        return best

    def corrected(self, text: str) -> tuple[str, tuple[Correction, ...]]:
        """The question with its misspelt words read as the collection spells them, and those words."""
        normalized = self.library.tokenizer.normalize(text)
        if len(normalized) != len(text):  # offsets would not carry over to the reader's own text
            return text, ()
        swaps = [*self._chinese_swaps(normalized), *self._latin_swaps(normalized)]
        if not swaps:
            return text, ()
        corrections, out, last = [], [], 0
        for start, end, meant in sorted(swaps):
            if start < last:
                continue
            out += [text[last:start], meant]
            corrections.append(Correction(text[start:end], meant))
            last = end
        out.append(text[last:])
        return "".join(out), tuple(corrections)

    def _chinese_swaps(self, normalized: str) -> list[tuple[int, int, str]]:
        swaps = []
        context = self._context(normalized)
        for run in _CJK_RUN.finditer(normalized):
            for swap in self._run_swaps(run.group(), context):
                at = run.start() + swap.at
                swaps.append((at, at + 1, swap.meant))
        return swaps

    def _context(self, normalized: str) -> dict[str, tuple[int, float]]:
        """The question's words the collection knows, with their term ids and idf: what the paragraphs
        that write a corrected name should also talk about."""
        index, seams = self.library.index, self.library.tokenizer.seams(normalized)
        return {token: (term, float(index.idfs[term])) for token in self.library.tokenizer(normalized)
                if token not in seams and (term := index.term(token)) is not None}

    def _run_swaps(self, run: str, context: dict[str, tuple[int, float]]) -> list[_Swap]:
        """One character swapped at most per three-character window, the best supported swap winning."""
        if len(run) == 2:
            return self._pair_swaps(run, context)
        words = self._words_at(run)
        swaps: list[_Swap] = []
        for i in range(len(run) - 2):
            window = run[i:i + 3]
            if any(s.at >= i for s in swaps):
                continue
            swap = self._window_swap(window, lambda at, meant: self._word_allows(words[i + at], meant), context)
            if swap is not None:
                swaps.append(_Swap(i + swap.at, swap.meant, swap.support))
        return swaps

    def _pair_swaps(self, run: str, context: dict[str, tuple[int, float]]) -> list[_Swap]:
        """A two-character run (海罗 in "海罗AI") is a word on its own: corrected when the collection lacks
        it and writes a homophone of it about the rest of the question."""
        if run in STOPWORDS or any(char in STOP_CHARACTERS for char in run) or self._frequency(run) > RARE_TYPED:
            return []
        meant = self.speller.correct(run, self._frequency(run))
        if meant is None or not self._in_context(meant, self._with(meant), context):
            return []
        return [_Swap(i, meant[i], 0) for i in range(2) if meant[i] != run[i]]

    def _words_at(self, run: str) -> list[tuple[str, int]]:
        """For each character of the run, jieba's word that holds it and its offset in that word."""
        found: list[tuple[str, int]] = []
        for word in self.library.tokenizer.segments(run):
            found.extend((word, offset) for offset in range(len(word)))
        return found

    def _word_allows(self, held: tuple[str, int], meant: str) -> bool:
        """A character jieba reads as part of a word (联 of 联手, 芯 of 芯片) is swapped only when the word
        with the swap is far more common than the word as typed (文峰 → 文锋 beside 梁): a misspelt name
        is seldom a word, and a real word beside a name's character is seldom a typo."""
        word, offset = held
        if len(word) == 1:
            return True
        fixed = word[:offset] + meant + word[offset + 1:]
        return self._frequency(fixed) >= WORD_DOMINANCE * max(1, self._frequency(word))

    def _window_swap(self, window: str, allowed: Callable[[int, str], bool],
                     context: dict[str, tuple[int, float]]) -> _Swap | None:
        if any(char in STOP_CHARACTERS for char in window):
            return None  # 的, 是, 在 … swap into other words' characters as easily as into a name's
        first, second = window[:2], window[1:]
        counts = [self._frequency(first), self._frequency(second)]
        if min(counts) > RARE_BIGRAM:
            return None
        together = len(self._together(first, second))
        if together >= TOGETHER or (together and self._written(window, self._together(first, second))):
            return None
        found = []
        for at in range(3):
            if any(self._frequency(pair) > RARE_TYPED for pair in _pairs_holding(window, at)):
                continue  # the character is written with its neighbour elsewhere: no typo of this spot
            for meant in self._sounding(window, at):
                if not allowed(at, meant):
                    continue
                fixed = window[:at] + meant + window[at + 1:]
                support = len(self._together(fixed[:2], fixed[1:]))
                if support >= max(MIN_SUPPORT, DOMINANCE * together):
                    found.append(_Swap(at, meant, support))
        for swap in sorted(found, key=lambda s: (-s.support, s.meant))[:CHECKED]:
            phrase = window[:swap.at] + swap.meant + window[swap.at + 1:]
            written = self._written(phrase, self._closest(phrase, self._together(phrase[:2], phrase[1:]), context))
            if len(written) >= min(MIN_WRITTEN, swap.support) and self._in_context(phrase, written, context):
                return swap
        return None

    def _with(self, token: str) -> list[int]:
        term = self.library.index.term(token)
        return [] if term is None else [int(i) for i in self.library.index.paragraphs_of(term)]

    def _others(self, phrase: str, context: dict[str, tuple[int, float]]) -> dict[int, float]:
        """The question's other words (those sharing no character with the phrase), by term id."""
        return {term: weight for token, (term, weight) in context.items() if not set(token) & set(phrase)}

    def _closest(self, phrase: str, paragraphs: list[int], context: dict[str, tuple[int, float]]) -> list[int]:
        """The ``SAMPLE`` paragraphs that hold the most of the rest of the question (index order among equals)."""
        others = self._others(phrase, context)
        if not others or len(paragraphs) <= SAMPLE:
            return paragraphs[:SAMPLE]
        held = self.library.index.matched_weight(others, paragraphs)
        return [p for _, p in sorted(zip(held, paragraphs), key=lambda pair: (-pair[0], pair[1]))[:SAMPLE]]

    def _written(self, phrase: str, paragraphs: list[int]) -> list[int]:
        """The paragraphs that hold the phrase itself, in a row (the index says only that both its
        bigrams are somewhere in a paragraph: 老百 and 百行 often are)."""
        return [i for i in paragraphs if any(phrase in line for line in self.library.paragraph(i).folded)]

    def _in_context(self, phrase: str, paragraphs: list[int], context: dict[str, tuple[int, float]]) -> bool:
        """Whether a paragraph that writes the corrected phrase also holds ``CONTEXT_SHARE`` of the rest of
        the question: 周鸿祎 is written beside 纳米AI搜索, as the question asks; 能看到 is not beside 日产."""
        others = self._others(phrase, context)
        total = sum(others.values())
        if total <= 0:
            return bool(paragraphs)
        held = self.library.index.matched_weight(others, self._closest(phrase, paragraphs, context))
        return max(held, default=0.0) >= CONTEXT_SHARE * total

    def _sounding(self, window: str, at: int) -> set[str]:
        """Characters that sound like ``window[at]`` and make collection bigrams with its neighbours there."""
        found: set[str] = set()
        if at < 2:
            found |= self._swapped(window[:2], at)
        if at > 0:
            found |= self._swapped(window[1:], at - 1)
        return found - {window[at]}

    def _swapped(self, pair: str, offset: int) -> set[str]:
        """The characters that replace ``pair[offset]`` in the pair's homophones the collection holds."""
        other = 1 - offset
        return {token[offset] for token, _ in self.speller.homophones(pair) if token[other] == pair[other]}

    def _frequency(self, token: str) -> int:
        term = self.library.index.term(token)
        return 0 if term is None else int(self.library.index.frequencies[term])

    def _together(self, first: str, second: str) -> list[int]:
        """The paragraphs that hold both tokens."""
        index = self.library.index
        a, b = index.term(first), index.term(second)
        if a is None or b is None:
            return []
        return [int(i) for i in index.together(a, b)]

    def _latin_swaps(self, normalized: str) -> list[tuple[int, int, str]]:
        """Latin words (letters only, five or more) whose stem no paragraph holds, read as the collection's
        word one edit away. A word with digits (h200, gpt4o) is a name and never corrected."""
        tokenizer, index = self.library.tokenizer, self.library.index
        swaps = []
        for start, end, tokens in tokenizer.latin_words(normalized):
            if not _LATIN_WORD.fullmatch(normalized[start:end]) or not tokens or index.knows(tokens[0]):
                continue
            meant = self.speller.correct(tokens[0], 0)
            if meant:
                swaps.append((start, end, meant))
        return swaps


def _pairs_holding(window: str, at: int) -> list[str]:
    """The window's bigrams that hold its character ``at``."""
    return [window[i:i + 2] for i in (at - 1, at) if 0 <= i and i + 2 <= len(window)]
