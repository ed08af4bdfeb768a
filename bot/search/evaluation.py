"""Retrieval quality on a question set: answer recall@1/5/20, MRR@10, and query latency; and the
recall of the answer as a reader sees it.

The hit rule is the evaluation sets' own: a returned passage is a hit when it contains a
gold answer string, both sides NFKC-normalised with all whitespace removed. Passages are
ranked as search returns them, before answers keep one quote per article.

What a reader sees is less: the relevance floor may say nothing answers, the filler rule drops weak
quotes, one quote per article is kept, a chat gets three, and a quote is an excerpt of its paragraph.
``shown@1`` / ``shown@3`` count the questions whose first (any) quote's excerpt holds a gold answer,
``floor hides`` those whose first passage held one but whose answer showed nothing, and the answer's
latency is the whole path: reading the question, search, ranking, quoting.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import ArticlebotError
from bot.search.library import Passage

_SPACE = re.compile(r"\s+")
DEPTH = 20


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]


def normalize_for_match(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def read_questions(path: Path) -> list[Question]:
    """Questions in the evaluation JSONL format; a bad line names its number."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ArticlebotError(f"{path}: cannot read questions ({error.strerror})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ArticlebotError(f"{path}:{number}: not a question line (not JSON: {error})") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise ArticlebotError(f"{path}:{number}: not a question line (expected an object with a \"question\" string)")
        answers = row.get("answers")
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise ArticlebotError(f"{path}:{number}: not a question line (\"answers\" must be a list of strings)")
        questions.append(Question(str(row.get("id", number)), row["question"], tuple(answers)))
    return questions


def first_hit_rank(passages: list[Passage], answers: tuple[str, ...]) -> int | None:
    """1-based rank of the first passage holding an answer, or None."""
    return first_hit_in([passage.paragraph.text for passage in passages], answers)


def first_hit_in(texts: list[str], answers: tuple[str, ...]) -> int | None:
    """1-based rank of the first text holding an answer, or None."""
    golds = [normalize_for_match(a) for a in answers if normalize_for_match(a)]
    for rank, text in enumerate(texts, 1):
        normalized = normalize_for_match(text)
        if any(gold in normalized for gold in golds):
            return rank
    return None


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


@dataclass
class EvalResult:
    questions: int
    recall: dict[int, float]
    mrr10: float
    latencies_ms: list[float]
    shown: dict[int, float] = field(default_factory=dict)
    """Recall of the answer as shown (``shown@1``, ``shown@3``), when the answers were asked for."""
    floor_hides: float = 0.0
    answer_ms: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, float | int]:
        figures: dict[str, float | int] = {
            "questions": self.questions,
            "recall@1": round(self.recall[1], 4), "recall@5": round(self.recall[5], 4),
            "recall@20": round(self.recall[20], 4), "mrr@10": round(self.mrr10, 4),
            "query_ms_p50": round(percentile(self.latencies_ms, 0.5), 3),
            "query_ms_p99": round(percentile(self.latencies_ms, 0.99), 3)}
        if self.answer_ms:
            figures.update({f"shown@{k}": round(v, 4) for k, v in self.shown.items()})
            figures.update({"floor_hides": round(self.floor_hides, 4),
                            "answer_ms_p50": round(percentile(self.answer_ms, 0.5), 3),
                            "answer_ms_p99": round(percentile(self.answer_ms, 0.99), 3)})
        return figures


Show = Callable[[str], list[str]]
"""A question → the excerpts its answer shows, in order (none when nothing answers it)."""


def evaluate(questions: list[Question], retrieve: Callable[[str, int], list[Passage]],
             on_question: Callable[[Question, list[Passage], int | None], None] | None = None,
             show: Show | None = None, shown_depth: int = 3) -> EvalResult:
    """Run every question through ``retrieve`` and score the ranked passages; with ``show``, also what
    the answer shows of them."""
    found = {1: 0, 5: 0, 20: 0}
    seen = {1: 0, shown_depth: 0}
    hidden = 0
    reciprocal = 0.0
    latencies: list[float] = []
    answer_ms: list[float] = []
    for question in questions:
        started = time.perf_counter()
        passages = retrieve(question.question, DEPTH)
        latencies.append((time.perf_counter() - started) * 1000)
        rank = first_hit_rank(passages, question.answers)
        if rank is not None:
            for k in found:
                found[k] += rank <= k
            reciprocal += 1 / rank if rank <= 10 else 0.0
        if show is not None:
            started = time.perf_counter()
            excerpts = show(question.question)[:shown_depth]
            answer_ms.append((time.perf_counter() - started) * 1000)
            first = first_hit_in(excerpts, question.answers)
            for k in seen:
                seen[k] += first is not None and first <= k
            hidden += rank == 1 and not excerpts
        if on_question:
            on_question(question, passages, rank)
    n = max(len(questions), 1)
    return EvalResult(len(questions), {k: v / n for k, v in found.items()}, reciprocal / n, latencies,
                      {k: v / n for k, v in seen.items()} if show else {}, hidden / n, answer_ms)


def per_question_lines(question: Question, passages: list[Passage], rank: int | None) -> Iterator[str]:
    yield json.dumps({"id": question.id, "question": question.question, "rank": rank,
                      "hits": [{"path": p.article.path, "paragraph": p.paragraph.position,
                                "score": round(p.score, 4)} for p in passages]}, ensure_ascii=False)
