"""ROUGE for extractive summaries, the benchmark that scores them against written abstracts, and the
readability check that reads every tag's summaries of a collection as a reader would.

Why characters for Chinese: Chinese has no spaces, and a word segmenter would make the score
depend on that segmenter's choices (jieba cuts the summary and the reference differently when
their contexts differ). Character n-grams are what Chinese summarization papers report (e.g.
LCSTS). English is scored on lower-cased words. Whitespace, punctuation and symbols are
dropped in both, so "。" and "，" earn nothing.

The benchmark (``evaluate_summaries``) takes articles whose body carries a written summary
section (``## 摘要`` in the WeChat exports), removes that section from the text *before* the
article is parsed, summarizes what is left, and scores the result against the removed
section. Baselines get the same sentences and the same length budget.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import CorpusError
from bot.search.articles import ABSTRACT_HEADINGS, Article, Paragraph, load_article, read_text
from bot.search.library import Library
from bot.search.markup import clean_block, clean_inline
from bot.summaries.catalog import Summarizer
from bot.summaries.extracts import (
    SummaryStyle,
    boilerplate_lines,
    depends_on_previous,
    display_text,
    fill_budget,
    is_chinese,
    is_question,
    is_site_text,
    leads_on,
    sentence_candidates,
)

SYSTEMS = ("articlebot", "lead", "textrank", "lexrank")
"""The systems ``evaluate_summaries`` scores by default; textrank and lexrank need ``pip install sumy``."""

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z0-9]+")
_SPACE = re.compile(r"\s+")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_NUMBERED = re.compile(r"^(\d{1,3})([.)])")
"""A sub-heading "### 1) 一句话总结" must read like its bold twin "**1) 一句话总结**", not as a list item."""


@dataclass(frozen=True)
class Rouge:
    """Precision, recall and their harmonic mean (F1) of one candidate against one reference."""

    precision: float
    recall: float
    f1: float


def rouge_units(text: str, chinese: bool | None = None) -> list[str]:
    """The units ROUGE counts: characters (letters, digits, CJK) for Chinese, lower-case words
    otherwise. ``chinese=None`` decides from the text: Chinese when it has at least as many
    CJK characters as Latin words."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if chinese is None:
        chinese = is_mostly_chinese(folded)
    if chinese:
        return [ch for ch in folded if ch.isalnum()]
    return _WORD.findall(folded)


def is_mostly_chinese(text: str) -> bool:
    return len(_CJK.findall(text)) >= len(_WORD.findall(text.lower()))


def _scores(overlap: int, candidate: int, reference: int) -> Rouge:
    precision = overlap / candidate if candidate else 0.0
    recall = overlap / reference if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Rouge(precision, recall, f1)


def _units(candidate: str, reference: str) -> tuple[list[str], list[str]]:
    """Both sides in the reference's units, so an English quote in a Chinese summary still counts."""
    chinese = is_mostly_chinese(reference)
    return rouge_units(candidate, chinese), rouge_units(reference, chinese)


def rouge_n(candidate: str, reference: str, n: int) -> Rouge:
    """ROUGE-N: n-grams shared, each counted at most as often as the other side has it."""
    units = _units(candidate, reference)
    cand, ref = _ngrams(units[0], n), _ngrams(units[1], n)
    overlap = sum((cand & ref).values())
    return _scores(overlap, sum(cand.values()), sum(ref.values()))


def _ngrams(units: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(units[i:i + n]) for i in range(len(units) - n + 1))


def rouge_l(candidate: str, reference: str) -> Rouge:
    """ROUGE-L: the longest common subsequence, over the candidate's and the reference's lengths."""
    cand, ref = _units(candidate, reference)
    return _scores(lcs_length(cand, ref), len(cand), len(ref))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Crochemore et al., 2001).

    One big-integer operation per unit of ``b`` instead of a row of the dynamic-programming
    table: a 150 × 600 character pair costs 600 steps, not 90,000.
    """
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, unit in enumerate(a):
        masks[unit] = masks.get(unit, 0) | (1 << i)
    full = (1 << len(a)) - 1
    row = full
    for unit in b:
        matches = row & masks.get(unit, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(a) - row.bit_count()


def rouge(candidate: str, reference: str) -> dict[str, float]:
    """The three F1 scores the benchmark reports."""
    return {"rouge1": rouge_n(candidate, reference, 1).f1, "rouge2": rouge_n(candidate, reference, 2).f1,
            "rougeL": rouge_l(candidate, reference).f1}


# --- the benchmark --------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """One article with its written summary taken out: what to summarize and what to compare with."""

    article: Article
    reference: str


def split_abstract(body: str) -> tuple[str, str]:
    """(the text without its summary section, the section's Markdown); ``(text, "")`` without one.

    The section runs from a heading named 摘要 / Summary / TL;DR to the next heading of the
    same or a higher level, so sub-headings such as ``### 1) 一句话总结`` stay inside it.
    """
    lines = body.split("\n")
    start = level = None
    for i, line in enumerate(lines):
        match = _ATX.match(line)
        if not match:
            continue
        depth = len(match.group(1))
        if start is None:
            if clean_inline(match.group(2)).strip(" :：").casefold() in ABSTRACT_HEADINGS:
                start, level = i, depth
        elif level is not None and depth <= level:
            return "\n".join(lines[:start] + lines[i:]), "\n".join(lines[start + 1:i])
    if start is None:
        return body, ""
    return "\n".join(lines[:start]), "\n".join(lines[start + 1:])


def reference_text(abstract_markdown: str) -> str:
    """The summary section as plain text, sub-headings included, one line per Markdown line."""
    lines = [_ATX.sub(lambda m: _NUMBERED.sub(r"\1\\\2", m.group(2)), line)
             for line in abstract_markdown.split("\n")]
    blocks = "\n".join(lines).split("\n\n")
    return "\n".join(text for text in (clean_block(b) for b in blocks) if text)


def load_samples(folder: Path) -> list[Sample]:
    """Articles of ``folder`` that have a summary section, each parsed without it.

    Files whose body is empty once the section is gone (a post that is only images) are
    left out, as are files without a summary section.
    """
    samples: list[Sample] = []
    for path in sorted(folder.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        body, abstract = split_abstract(read_text(path, 5 * 1024 * 1024))
        reference = reference_text(abstract)
        if not reference:
            continue
        try:
            samples.append(Sample(load_article(path, body), reference))
        except CorpusError:
            continue
    return samples


def file_half(path: str | Path) -> str:
    """"a" or "b", fixed by the file name, so the split never changes between runs."""
    return "ab"[hashlib.sha1(Path(path).name.encode("utf-8")).digest()[0] % 2]


def sample_style(samples: Iterable[Sample], normalize: Callable[[str], str]) -> SummaryStyle:
    """A summary style learned from samples' own (reference, body) pairs."""
    return SummaryStyle.learn(((s.reference, "\n".join(p.text for p in s.article.paragraphs), s.article.lang)
                               for s in samples), normalize)


def lead_summary(sentences: Sequence[str], lang: str, budget: int) -> list[str]:
    """The baseline every summarizer must beat: the article's first sentences that fit."""
    return fill_budget(range(len(sentences)), sentences, lang, budget)


Ranker = Callable[[Sequence[str], Callable[[str], list[str]]], list[int]]


def sumy_ranker(kind: str) -> Ranker | None:
    """TextRank or LexRank from ``sumy``, as a function from sentences (and a tokenizer) to their
    indexes best-rated first; ``None`` when sumy is not installed (a benchmark-only
    dependency: ``pip install sumy``).

    sumy's own splitter drops Chinese text that does not end in 。！？, so its document is
    built from our sentences, and its words are our tokenizer's (jieba words and pairs).
    """
    try:
        from sumy.models.dom import ObjectDocumentModel
        from sumy.models.dom import Paragraph as SumyParagraph
        from sumy.models.dom import Sentence as SumySentence
        from sumy.summarizers.lex_rank import LexRankSummarizer
        from sumy.summarizers.text_rank import TextRankSummarizer
    except ImportError:
        return None
    summarizer = {"textrank": TextRankSummarizer, "lexrank": LexRankSummarizer}[kind]()

    class Words:
        def __init__(self, tokenize: Callable[[str], list[str]]) -> None:
            self.to_words = tokenize

    def rank(sentences: Sequence[str], tokenize: Callable[[str], list[str]]) -> list[int]:
        if not sentences:
            return []
        words = Words(tokenize)
        document = ObjectDocumentModel([SumyParagraph([SumySentence(s, words) for s in sentences])])
        ranked: list[int] = []

        def by_rating(infos: list[Any]) -> list[Any]:
            ranked.extend(info.order for info in infos)
            return []

        summarizer(document, by_rating)
        return ranked

    return rank


def evaluate_summaries(folder: Path, budget: int = 150, systems: Iterable[str] = SYSTEMS,
                       half: str | None = None, library: Library | None = None,
                       cache_dir: Path | None = None) -> dict[str, Any]:
    """Mean ROUGE-1/2/L F1 of each system against the articles' own summary sections.

    Every system summarizes the body with the summary section removed, within ``budget``
    (characters for Chinese, words for English), from the same sentences. articlebot's
    summary style is learned from the *other* half's (summary, body) pairs (two-fold
    cross-fitting), so no article is summarized with help from its own summary;
    "articlebot-nostyle" uses none. ``half`` scores only half "a" or "b" of the files.
    ``library`` (default: opened over ``folder``, cached in ``cache_dir``) provides the
    tokenizer. Systems that need a missing package are left out, with a note.
    """
    systems = tuple(systems)
    unknown = sorted(set(systems) - set(ALL_SYSTEMS))
    if unknown:
        raise ValueError(f"unknown summary system(s) {', '.join(unknown)}; known: {', '.join(ALL_SYSTEMS)}")
    library = library or Library.open(Settings(corpus=(folder,), cache_dir=cache_dir or Path(".articlebot-cache")))
    samples = load_samples(folder)
    halves = {"a": [s for s in samples if file_half(s.article.path) == "a"],
              "b": [s for s in samples if file_half(s.article.path) == "b"]}
    normalize = library.tokenizer.normalize
    summarizers = {h: Summarizer(library, budget, budget, style=sample_style(halves["b" if h == "a" else "a"], normalize))
                   for h in "ab"}
    plain = Summarizer(library, budget, budget, style=None)
    rankers = {name: sumy_ranker(name) for name in systems if name in ("textrank", "lexrank")}
    notes = [f"{name}: left out (pip install sumy)" for name, ranker in rankers.items() if ranker is None]
    scored = [name for name in systems if rankers.get(name, True) is not None]
    totals = {name: Counter[str]() for name in scored}
    chosen = samples if half is None else halves[half]
    for sample in chosen:
        article = sample.article
        sentences = [c.text for c in sentence_candidates(article)]
        for name in scored:
            if name == "articlebot":
                text = summarizers[file_half(article.path)].summarize(article, from_body_only=True).text
            elif name == "articlebot-nostyle":
                text = plain.summarize(article, from_body_only=True).text
            elif name == "lead":
                text = display_text(lead_summary(sentences, article.lang, budget), article.lang)
            else:
                ranker = rankers[name]
                assert ranker is not None
                unique = list(dict.fromkeys(sentences))
                order = ranker(unique, library.tokenizer)
                text = display_text(fill_budget(order, unique, article.lang, budget), article.lang)
            totals[name].update(rouge(text, sample.reference))
    count = max(len(chosen), 1)
    result: dict[str, Any] = {
        "articles": len(chosen), "budget": budget, "half": half or "all",
        "systems": {name: {key: round(total[key] / count, 4) for key in ("rouge1", "rouge2", "rougeL")}
                    for name, total in totals.items()}}
    if notes:
        result["notes"] = notes
    return result


ALL_SYSTEMS = SYSTEMS + ("articlebot-nostyle",)


# --- readability: what a reader of every tag's summaries trips over -------------------------

READABILITY_CHECKS = ("question", "opens_pointing_back", "points_back_alone", "ends_leading_on", "left_hanging",
                      "site_text", "fragment")
"""What ``readability`` counts in summary sentences:

- ``question``: ends on a question mark (an interview's question shown with its answer too);
- ``opens_pointing_back``: opens with a connective or pronoun that points at the sentence before
  (但, 同时, 也就是说, 这, 该, However, This …), whether or not that sentence is shown before it;
- ``points_back_alone``: the same, without the sentence it points at right before it;
- ``ends_leading_on``: ends on a colon, a semicolon or an opening quote or bracket;
- ``left_hanging``: the same, without the sentence that continues it right after it;
- ``site_text``: advertising, a call to action, a byline, credit, disclaimer, greeting or caption
  (the extractor's own patterns), or a line the source repeats in three or more articles;
- ``fragment``: under ``FRAGMENT_CHARS`` characters (spaces not counted).
"""
FRAGMENT_CHARS = 8


@dataclass(frozen=True)
class Readability:
    """Counts of summary sentences that trip a reader up, over every tag's summaries of a collection."""

    sentences: int
    summaries: int
    counts: dict[str, int]
    examples: dict[str, list[str]]
    """A few sentences of each kind, to read."""

    def shares(self) -> dict[str, float]:
        return {check: self.counts.get(check, 0) / max(self.sentences, 1) for check in READABILITY_CHECKS}


def sentence_problems(sentence: str, normalized: str, chinese: bool, after_previous: bool, before_next: bool,
                      boilerplate: bool) -> list[str]:
    """The checks of ``READABILITY_CHECKS`` one summary sentence fails. ``after_previous``: it is shown
    right after the sentence before it in the article; ``before_next``: the next sentence shown is the
    one after it in the article; ``boilerplate``: its source repeats it across articles."""
    problems = []
    if is_question(sentence):
        problems.append("question")
    if depends_on_previous(normalized, chinese):
        problems.append("opens_pointing_back")
        if not after_previous:
            problems.append("points_back_alone")
    if leads_on(sentence):
        problems.append("ends_leading_on")
        if not before_next:
            problems.append("left_hanging")
    if boilerplate or is_site_text(sentence, normalized):
        problems.append("site_text")
    if len(_SPACE.sub("", sentence)) < FRAGMENT_CHARS:
        problems.append("fragment")
    return problems


def readability(summarizer: Summarizer, examples: int = 5) -> Readability:
    """Every tag's summaries of the summarizer's library checked as a reader reads them: each name
    ``Summarizer.tags`` lists (tags, and the most shared topics), the overview of its digest and the
    summary of each of its articles (an article in several tags is read once). ``summaries`` counts
    the overviews and the article summaries read."""
    library = summarizer.library
    normalize = library.tokenizer.normalize
    counts: Counter[str] = Counter()
    found: dict[str, list[str]] = {check: [] for check in READABILITY_CHECKS}
    seen: set[str] = set()
    shown: list[tuple[Article, Sequence[str], Sequence[bool]]] = []
    for entry in summarizer.tags():
        resolution = summarizer.resolve(entry.name)
        overview = summarizer.overview(resolution.articles, resolution.name) if len(resolution.articles) > 1 else ()
        if overview:  # as a digest shows it: over more than one article
            shown.append((overview[0].article, tuple(line.text for line in overview), (False,) * len(overview)))
        for article in resolution.articles:
            if article.path not in seen:
                seen.add(article.path)
                summary = summarizer.summarize(article)
                shown.append((article, summary.sentences, summary.follows or (False,) * len(summary.sentences)))
    total = 0
    for article, sentences, follows in shown:
        lines = boilerplate_lines(library.boilerplate, article, normalize)
        chinese = is_chinese(article.lang)
        for n, sentence in enumerate(sentences):
            repeated = any(lines(Paragraph(0, sentence)))
            after_next = n + 1 < len(sentences) and follows[n + 1]
            problems = sentence_problems(sentence, normalize(sentence), chinese, follows[n], after_next, repeated)
            total += 1
            counts.update(problems)
            for problem in problems:
                if len(found[problem]) < examples:
                    found[problem].append(sentence)
    return Readability(total, len(shown), dict(counts), found)


def readability_table(results: Mapping[str, Readability]) -> str:
    """Shares per collection as a Markdown table, one row per check."""
    names = list(results)
    lines = ["| check | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines.append("| summary sentences | " + " | ".join(f"{results[n].sentences:,}" for n in names) + " |")
    for check in READABILITY_CHECKS:
        lines.append(f"| {check.replace('_', ' ')} | "
                     + " | ".join(f"{results[n].shares()[check]:.1%}" for n in names) + " |")
    return "\n".join(lines)
