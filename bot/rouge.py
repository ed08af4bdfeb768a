"""ROUGE for extractive summaries, and the benchmark that scores them against written abstracts.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.articles import ABSTRACT_HEADINGS, Article, clean_block, clean_inline, load_article, read_text
from bot.config import Settings
from bot.library import Library
from bot.summaries import Summarizer, fill_budget, sentence_candidates, summary_length

SYSTEMS = ("articlebot", "lead", "textrank", "lexrank")
"""Every system ``evaluate_summaries`` knows; textrank and lexrank need ``pip install sumy``."""

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z0-9]+")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Rouge:
    """Precision, recall and their harmonic mean (F1) of one candidate against one reference."""

    precision: float
    recall: float
    f1: float


def rouge_units(text: str) -> list[str]:
    """The units ROUGE counts: characters when the text is mostly Chinese, else lower-cased words."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if len(_CJK.findall(folded)) >= len(_WORD.findall(folded)):
        return [ch for ch in folded if not ch.isspace() and unicodedata.category(ch)[0] not in "PSZC"]
    return _WORD.findall(folded)


def _scores(overlap: int, candidate: int, reference: int) -> Rouge:
    precision = overlap / candidate if candidate else 0.0
    recall = overlap / reference if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Rouge(precision, recall, f1)


def rouge_n(candidate: str, reference: str, n: int) -> Rouge:
    """ROUGE-N: n-grams shared, each counted at most as often as the other side has it."""
    cand, ref = _ngrams(rouge_units(candidate), n), _ngrams(rouge_units(reference), n)
    overlap = sum((cand & ref).values())
    return _scores(overlap, sum(cand.values()), sum(ref.values()))


def _ngrams(units: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(units[i:i + n]) for i in range(len(units) - n + 1))


def rouge_l(candidate: str, reference: str) -> Rouge:
    """ROUGE-L: the longest common subsequence, over the candidate's and the reference's lengths."""
    cand, ref = rouge_units(candidate), rouge_units(reference)
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
    """(the text without its summary section, the section's Markdown); ``("", body)``-free when absent.

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
    lines = [_ATX.sub(r"\2", line) for line in abstract_markdown.split("\n")]
    blocks = "\n".join(lines).split("\n\n")
    return "\n".join(text for text in (clean_block(b) for b in blocks) if text)


def load_samples(folder: Path, half: str | None = None) -> list[Sample]:
    """Articles of ``folder`` that have a summary section, parsed without it.

    ``half`` ("a" or "b") keeps a fixed half of the files (by a hash of the file name), so
    that knobs tuned on one half can be checked on the other.
    """
    samples: list[Sample] = []
    for path in sorted(folder.rglob("*.md")):
        if path.name.lower() == "readme.md" or (half and file_half(path) != half):
            continue
        text = read_text(path, 5 * 1024 * 1024)
        body, abstract = split_abstract(text)
        reference = reference_text(abstract)
        if not reference:
            continue
        samples.append(Sample(load_article(path, body), reference))
    return samples


def file_half(path: Path) -> str:
    """"a" or "b", fixed by the file name, so the split never changes between runs."""
    return "ab"[hashlib.sha1(path.name.encode("utf-8")).digest()[0] % 2]


def lead_summary(sentences: Sequence[str], lang: str, budget: int) -> list[str]:
    """The baseline every summarizer must beat: the article's first sentences that fit."""
    return fill_budget(range(len(sentences)), sentences, lang, budget)


def sumy_summaries(kind: str) -> Callable[[Sequence[str], Callable[[str], list[str]], str, int], list[str]] | None:
    """A TextRank or LexRank summarizer from ``sumy`` fed with our sentences and tokens; ``None``
    when sumy is not installed (it is a benchmark-only dependency: ``pip install sumy``).

    sumy's own sentence splitter drops Chinese text that does not end in 。！？, so the
    document is built from our sentences; its sentences are then taken best-rated first while
    they fit the budget, exactly as the lead baseline fills it.
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

    def summarize(sentences: Sequence[str], tokenize: Callable[[str], list[str]], lang: str,
                  budget: int) -> list[str]:
        words = Words(tokenize)
        unique = list(dict.fromkeys(sentences))
        if not unique:
            return []
        document = ObjectDocumentModel([SumyParagraph([SumySentence(s, words) for s in unique])])
        ranked: list[int] = []

        def by_rating(infos: list[Any]) -> list[Any]:
            ranked.extend(info.order for info in infos)
            return []

        summarizer(document, by_rating)
        return fill_budget(ranked, unique, lang, budget)

    return summarize


def evaluate_summaries(folder: Path, budget: int = 150, systems: Iterable[str] = SYSTEMS,
                       half: str | None = None, library: Library | None = None,
                       cache_dir: Path | None = None) -> dict[str, Any]:
    """Mean ROUGE-1/2/L F1 of each system against the articles' own summary sections.

    Every system summarizes the article body with the summary section removed, within
    ``budget`` (characters for Chinese, words for English). ``library`` supplies corpus
    statistics (idf); by default it is opened over ``folder`` with its cache in
    ``cache_dir``. Systems that need a missing package are left out, with a note.
    """
    systems = tuple(systems)
    library = library or Library.open(Settings(corpus=(folder,), cache_dir=cache_dir or Path(".articlebot-cache")))
    summarizer = Summarizer(library, budget_zh=budget, budget_en_words=budget)
    runners: dict[str, Callable[[Article], str]] = {}
    notes: list[str] = []
    for name in systems:
        runner = _runner(name, summarizer, budget)
        if runner is None:
            notes.append(f"{name}: left out (pip install sumy)")
        else:
            runners[name] = runner
    samples = load_samples(folder, half)
    totals = {name: Counter[str]() for name in runners}
    for sample in samples:
        for name, run in runners.items():
            totals[name].update(rouge(run(sample.article), sample.reference))
    count = max(len(samples), 1)
    result: dict[str, Any] = {
        "articles": len(samples), "budget": budget, "half": half or "all",
        "systems": {name: {key: round(total[key] / count, 4) for key in ("rouge1", "rouge2", "rougeL")}
                    for name, total in totals.items()}}
    if notes:
        result["notes"] = notes
    return result


def _runner(name: str, summarizer: Summarizer, budget: int) -> Callable[[Article], str] | None:
    if name == "articlebot":
        return lambda article: summarizer.summarize(article, from_body_only=True).text
    if name == "lead":
        def lead(article: Article) -> str:
            sentences = [c.text for c in sentence_candidates(article, body_only=True)]
            return _joined(lead_summary(sentences, article.lang, budget), article.lang)
        return lead
    if name in ("textrank", "lexrank"):
        ranker = sumy_summaries(name)
        if ranker is None:
            return None
        tokenize = summarizer.library.tokenizer

        def ranked(article: Article) -> str:
            sentences = [c.text for c in sentence_candidates(article, body_only=True)]
            return _joined(ranker(sentences, tokenize, article.lang, budget), article.lang)
        return ranked
    raise ValueError(f"unknown summary system {name!r}; known: {', '.join(SYSTEMS)}")


def _joined(sentences: Sequence[str], lang: str) -> str:
    return ("" if lang.startswith("zh") else " ").join(sentences)


def summary_length_of(text: str, lang: str) -> int:
    """Length as the budget counts it (re-exported for scripts that check a summary's size)."""
    return summary_length(text, lang)
