"""A question resolved once: its tokens and their weights, what it asks for, the date it names, the
words it misspelt; and a passage's sentences as that question weighs them.

Search, ranking, the relevance floor and every quote read one ``Query`` instead of tokenizing,
normalising or looking up terms again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from bot.search.articles import Paragraph
from bot.search.dates import DateSpan
from bot.search.index import BM25Index, Terms
from bot.search.library import Library, Passage
from bot.search.markup import sentence_spans
from bot.search.tokens import Tokenizer

Span = tuple[int, int]

ASKED_BOOST = 1.25
"""A sentence's weight is multiplied by this when it holds what the question asks for (a price for
幾錢, a date for 什么时候, a count for how many): of two sentences holding the question's words, the
one with the answer in it is the answer."""

PRICE, DATE, DURATION, PERCENT, COUNT, NUMBER = "price", "date", "duration", "percent", "count", "number"
_ASKED = [  # in the normal form (Simplified, lower case): 幾錢 is 几钱 here; the first that matches wins
    (PRICE, re.compile(r"多少钱|几钱|几多钱|什么价|价格是|价钱|售价|卖多少|花了多少|成本(是|为)?多少|"
                       r"\bhow much (did|does|do|is|was|were|will)\b.*\b(cost|pay|paid|sell|sold|buy|bought|price)|"
                       r"\bwhat (was|is) the price\b|\bat what price\b")),
    (DURATION, re.compile(r"多久|多长(的)?时间|几(个)?(月|星期|周|天|小时|分钟|秒)(?!前|后|以来)|\bhow long\b")),
    (DATE, re.compile(r"什么时候|何时|几时|哪一?天|哪一?年|几月|几号|几点|什么日子|\bwhen\b|\bwhat (year|date|day|time)\b")),
    (PERCENT, re.compile(r"比例|占比|百分之几|几成|涨幅|跌幅|增幅|降幅|增速|增长率|收益率|回报率|利润率|毛利率|"
                         r"(涨|跌|升|降|增长|下降|下跌|上涨|减少|增加|提高|回落|飙升|暴涨|大涨|大跌)(了|咗)?(多少|几)|"
                         r"\bwhat (percentage|percent|share|rate)\b|"
                         r"\bhow much (did|does|do|has|have|had|will)\b.*\b(climb|rise|rose|fall|fell|drop|gain|jump|surge|"
                         r"increase|decrease|decline|grow|grew|slip|slid|sink|sank|soar)")),
    (COUNT, re.compile(r"多少(个|家|人|名|位|辆|台|套|次|款|只|部|条|种|座|所|份|倍)|几(个|家|人|名|位|辆|台|套|次|款|只|部|条|种|倍)|"
                       r"几多|\bhow many\b")),
    (NUMBER, re.compile(r"多少|多[大长高远重快]|增长了?多少|\bhow (much|old|far|big|high|fast)\b|"
                        r"\bwhat (level)\b")),
]
_AMOUNTS = [  # what a question asks for by naming it: "净利润 预告", "what gross margin", 上季营收多少
    (PERCENT, re.compile(r"毛利率|净利率|利润率|收益率|回报率|增长率|通胀率|失业率|利率|税率|汇率|市占率|渗透率|胜率|"
                         r"\b(margins?|yields?|rates?|percentage|share of)\b")),
    (PRICE, re.compile(r"营收|收入|利润|净利|盈利|亏损|市值|估值|金额|价格|售价|开价|定价|报价|股价|金价|油价|成本|开支|"
                       r"资本支出|债务|负债|融资|投资额|工资|薪酬|罚款|赔偿|预算|票房|身家|"
                       r"\b(sales|revenues?|profits?|earnings|income|worth|valuation|debt|costs?|prices?|spending|budget|"
                       r"fines?|salary|funding|raised?)\b")),
]
_MONEY = re.compile(r"(?P<n>\d[\d,.]*)\s*(万亿|百万|千万|万|亿|千)?\s*(元|美元|港元|港币|人民币|日元|欧元|英镑|块|美金|"
                    r"usd|hkd|rmb|dollars?|yuan)|[$¥€£]\s*(?P<m>\d[\d,.]*)|(?P<o>\d[\d,.]*)\s*(bn|mn|million|billion)")
_DATE_TEXT = re.compile(r"(?P<n>\d{4})\s*年|(?P<m>\d{1,2})\s*月|(?P<o>\d{1,2})\s*[日号]|(?P<p>\d{4})-\d{1,2}|"
                        r"\b(?P<q>(19|20)\d{2})\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? (?P<r>\d+)")
_SPAN_TEXT = re.compile(r"(?<![\d.])(?P<n>\d{1,3}(?:\.\d+)?|[一二两三四五六七八九十半]+)\s*(个)?(多)?(月|天|周|星期|小时|分钟|秒|年(?!\d))|"
                        r"\b(?P<m>\d+(?:\.\d+)?|a|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
                        r"(days?|weeks?|months?|years?|hours?|minutes?)\b")
_PERCENT_TEXT = re.compile(r"(?P<n>\d[\d,.]*)\s*(%|个百分点|百分点|percent|pct|成)|百分之(?P<m>[\d一二三四五六七八九十百点.]+)|"
                           r"(?P<o>[一二三四五六七八九十几]+)成|(?P<p>[\d一二三四五六七八九十]+)分之")
_KIND_TEXT = {PRICE: _MONEY, DATE: _DATE_TEXT, DURATION: _SPAN_TEXT, PERCENT: _PERCENT_TEXT}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def asked_for(normalized: str) -> str | None:
    """What kind of answer the question wants, if it says: a price, a span of time, a date, a percentage, a count or
    another number (涨幅 and 比例 ask for a percentage even in a keyword question)."""
    kind = next((kind for kind, pattern in _ASKED if pattern.search(normalized)), None)
    if kind in (None, NUMBER):
        return next((named for named, pattern in _AMOUNTS if pattern.search(normalized)), kind)
    return kind


def numbers_in(normalized: str) -> frozenset[str]:
    """The numbers text states, in one form (3,870.08 is 3870.08)."""
    return frozenset(number.replace(",", "") for number in _NUMBER.findall(normalized))


def holds_asked(normalized: str, asked: str | None, known: frozenset[str] = frozenset()) -> bool:
    """Whether a sentence holds an answer of the asked kind (a sum of money for a price …) that the
    question does not already state (its "1月" is no answer to "1月营收增长了多少")."""
    if asked is None:
        return False
    pattern = _KIND_TEXT.get(asked)
    if pattern is not None:
        return any(value.replace(",", "") not in known
                   for match in pattern.finditer(normalized) for value in match.groupdict().values() if value)
    return bool(numbers_in(normalized) - known)


@dataclass(frozen=True)
class Correction:
    """A question word the collection lacks, and the collection's word it was read as."""

    typed: str
    meant: str


@dataclass(frozen=True)
class Query:
    """A question resolved once, then handed down."""

    text: str
    tokens: tuple[str, ...]
    weights: dict[str, float]
    """Each distinct token's weight (its idf, less for a corrected word): the question's weight, and
    what a sentence or passage matches of it."""
    term_ids: dict[str, int]
    """The tokens some paragraph holds, with their term ids."""
    terms: Terms
    asked: str | None = None
    """What it asks for (``asked_for``): a price, a date, a count, another number, or nothing said."""
    date: DateSpan | None = None
    """The day, week or month the question names, if any."""
    corrections: tuple[Correction, ...] = ()
    """Words read as the collection spells them: 梁文峰 → 梁文锋."""
    corrected: str = ""
    """The question as it was searched, when a word was corrected: what "showing results for" shows."""
    numbers: frozenset[str] = frozenset()
    """The numbers the question states (an answer is a number it does not)."""

    @property
    def wants_number(self) -> bool:
        return self.asked is not None

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
    def of(cls, library: Library, tokens: Sequence[str], text: str = "", scale: Mapping[str, float] | None = None,
           date: DateSpan | None = None, corrections: tuple[Correction, ...] = (), corrected: str = "") -> Query:
        """A query of already chosen tokens (an Answerer's question, a name a digest looks for).
        ``scale`` lowers the weight of some tokens (a corrected word counts less than one typed right)."""
        index = library.index
        times = Counter(tokens)
        term_ids = {token: term for token in times if (term := index.term(token)) is not None}
        weights = {token: (float(index.idfs[term_ids[token]]) if token in term_ids else index.idf(token))
                   * (scale or {}).get(token, 1.0) for token in times}
        normalized = library.tokenizer.normalize(text)
        return cls(text, tuple(tokens), weights, term_ids,
                   index.ordered({term: times[token] for token, term in term_ids.items()}),
                   asked_for(normalized) if text else None, date, corrections, corrected, numbers_in(normalized))

    def share_held(self, index: BM25Index, paragraphs: Sequence[int]) -> list[float]:
        """Share of the query's weight each paragraph (with its heading and title) holds, read from the
        index's postings: nothing is tokenized again."""
        total = self.total
        if total <= 0 or not paragraphs:
            return [0.0] * len(paragraphs)
        weights = {term: self.weights[token] for token, term in self.term_ids.items()}
        return [held / total for held in index.matched_weight(weights, paragraphs)]

    def weigh(self, normalized: str, tokenizer: Tokenizer) -> float:
        """The weight of the question that already-normalised text holds."""
        chinese, latin = self.split_weights
        return _weigh(normalized, chinese, latin, tokenizer.latin_tokens)


class Sentences:
    """A passage's sentences as one question sees them: spans, the question's weight each holds, and
    whether each holds what the question asks for. Made once per passage, for ranking and then for
    quoting it."""

    def __init__(self, paragraph: Paragraph, query: Query, tokenizer: Tokenizer,
                 boilerplate: Sequence[bool] = ()) -> None:
        self.text = paragraph.text
        folded = paragraph.folded or [tokenizer.normalize(self.text[a:b]) for a, b in self.spans]
        chinese, latin = query.split_weights
        self.boilerplate = list(boilerplate) or [False] * len(folded)
        """Lines the source repeats everywhere: never the answering sentence, never in the excerpt."""
        self.weights = [0.0 if boiler else _weigh(piece, chinese, latin, tokenizer.latin_tokens)
                        for piece, boiler in zip(folded, self.boilerplate)]
        self.answers = [holds_asked(piece, query.asked, query.numbers) for piece in folded]

    @classmethod
    def of(cls, passage: Passage, query: Query, library: Library) -> Sentences:
        paragraph = passage.paragraph
        return cls(paragraph, query, library.tokenizer, library.boilerplate.lines(passage.article, paragraph))

    @cached_property
    def spans(self) -> list[Span]:
        """Where the sentences are in the passage (needed only to quote it)."""
        return sentence_spans(self.text)

    def score(self, i: int) -> float:
        return self.weights[i] * (ASKED_BOOST if self.answers[i] else 1.0)

    def bonus(self) -> float:
        """The weight of the question one sentence holds: a passage that answers usually says it in one."""
        return max((self.score(i) for i in range(len(self.weights))), default=0.0)

    @cached_property
    def best_at(self) -> int:
        """The answering sentence's number: the most of the question's weight (more when it holds what
        is asked for), the earliest of equals, never boilerplate."""
        return max(range(len(self.weights)), key=lambda i: (not self.boilerplate[i], self.score(i), -i))

    def best(self) -> Span:
        return self.spans[self.best_at]

    def answer_share(self, total: float) -> float:
        """The share of the question's weight held by the best sentence that holds what is asked for."""
        found = [w for w, holds in zip(self.weights, self.answers) if holds]
        return max(found, default=0.0) / total if total > 0 else 0.0

    def asks_met(self) -> bool:
        """Whether the answering sentence holds what the question asks for."""
        return bool(self.weights) and self.answers[self.best_at]

    def around(self, best: Span) -> list[Span]:
        """The sentences an excerpt may hold: the run around the best one that no boilerplate line breaks."""
        i = self.spans.index(best)
        lo, hi = i, i
        while lo > 0 and not self.boilerplate[lo - 1]:
            lo -= 1
        while hi + 1 < len(self.spans) and not self.boilerplate[hi + 1]:
            hi += 1
        return self.spans[lo:hi + 1]


def sentence_weight(normalized: str, weights: dict[str, float],
                    latin_tokens: Callable[[str], set[str]]) -> float:
    """Summed weight of the tokens that occur in an already-normalised sentence.

    Chinese tokens are substrings of the normalised text they came from, so a substring test finds
    them without running jieba again; Latin tokens must match whole tokens (``latin_tokens``:
    the tokenizer's own words of the text, stemmed), so "ai" is not found in "said".
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
