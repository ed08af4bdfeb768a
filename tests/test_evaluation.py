"""evaluation.py: the hit rule, recall@k, MRR@10 and reading question files."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from bot.errors import ArticlebotError
from bot.search.articles import Article, Paragraph
from bot.search.evaluation import (
    Question,
    evaluate,
    first_hit_rank,
    normalize_for_match,
    per_question_lines,
    percentile,
    read_questions,
)
from bot.search.library import Passage

ARTICLE = Article(path="a.md", title="t", date=datetime(2025, 1, 1), tags=(), source_url=None, lang="zh",
                  paragraphs=())


def passage(text: str, index: int = 0) -> Passage:
    article = replace(ARTICLE, paragraphs=tuple(Paragraph(i, text if i == index else "") for i in range(index + 1)))
    return Passage.of(article, index, 1.0, index)


# --- the hit rule --------------------------------------------------------------------------

def test_normalize_for_match_applies_nfkc_and_removes_all_whitespace() -> None:
    assert normalize_for_match("５５７.６ 万\u3000美元\n") == "557.6万美元"


def test_hit_ignores_width_and_whitespace_differences() -> None:
    assert first_hit_rank([passage("总训练成本仅为 557.6 万美元。")], ("５５７.６万美元",)) == 1


def test_hit_needs_the_whole_answer_string() -> None:
    assert first_hit_rank([passage("成本为557万美元")], ("557.6万美元",)) is None


def test_first_hit_rank_is_one_based_and_takes_the_first_hit() -> None:
    passages = [passage("无关"), passage("也无关"), passage("答案A在此"), passage("答案A又在此")]
    assert first_hit_rank(passages, ("答案A",)) == 3


def test_any_of_several_answers_is_a_hit() -> None:
    assert first_hit_rank([passage("无关"), passage("乙")], ("甲", "乙")) == 2


def test_blank_answers_never_match_everything() -> None:
    assert first_hit_rank([passage("任何内容")], ("", "  ")) is None


# --- recall and MRR ------------------------------------------------------------------------

def test_recall_and_mrr_on_a_hand_made_case() -> None:
    """Four questions: answers at rank 1, rank 3, rank 12 and nowhere."""
    ranked = {
        "q1": ["甲"] + ["x"] * 19,
        "q3": ["x", "x", "乙"] + ["x"] * 17,
        "q12": ["x"] * 11 + ["丙"] + ["x"] * 8,
        "none": ["x"] * 20,
    }
    questions = [Question("1", "q1", ("甲",)), Question("2", "q3", ("乙",)), Question("3", "q12", ("丙",)),
                 Question("4", "none", ("丁",))]
    seen: list[tuple[str, int | None]] = []

    def retrieve(question: str, k: int) -> list[Passage]:
        return [passage(text, i) for i, text in enumerate(ranked[question][:k])]

    record = lambda q, p, rank: seen.append((q.id, rank))  # noqa: E731
    result = evaluate(questions, retrieve, record)
    assert result.questions == 4
    assert result.recall == {1: 0.25, 5: 0.5, 20: 0.75}
    assert result.mrr10 == pytest.approx((1 + 1 / 3) / 4)
    assert seen == [("1", 1), ("2", 3), ("3", 12), ("4", None)]
    figures = result.as_json()
    assert set(figures) == {"questions", "recall@1", "recall@5", "recall@20", "mrr@10",
                            "query_ms_p50", "query_ms_p99"}
    assert figures["mrr@10"] == 0.3333
    assert len(result.latencies_ms) == 4


def test_no_questions_give_zero_figures() -> None:
    result = evaluate([], lambda q, k: [])
    assert result.as_json()["recall@1"] == 0.0
    assert result.as_json()["query_ms_p99"] == 0.0


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) in (50.0, 51.0)
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) == 0.0


def test_per_question_lines_are_json() -> None:
    line, = per_question_lines(Question("7", "问题", ("答",)), [passage("答", 4)], 1)
    row = json.loads(line)
    assert row == {"id": "7", "question": "问题", "rank": 1,
                   "hits": [{"path": "a.md", "paragraph": 4, "score": 1.0}]}


# --- reading question files ----------------------------------------------------------------

def test_read_questions(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "问1", "answers": ["答1"]}\n\n{"question": "问2", "answers": []}\n',
                    encoding="utf-8")
    assert read_questions(path) == [Question("a", "问1", ("答1",)), Question("3", "问2", ())]


@pytest.mark.parametrize("bad", [
    '{"question": "no answers"}',
    "not json",
    '{"answers": ["x"]}',
    '{"question": "q", "answers": 5}',
    pytest.param('["a list"]'),
    pytest.param('{"question": "q", "answers": "557.6万美元"}'),
])
def test_bad_question_line_error_names_the_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "ok", "answers": ["x"]}\n' + bad + "\n", encoding="utf-8")
    with pytest.raises(ArticlebotError, match=rf"^{path}:2: not a question line"):
        read_questions(path)


def test_missing_question_file_is_an_articlebot_error(tmp_path: Path) -> None:
    with pytest.raises(ArticlebotError, match="cannot read questions"):
        read_questions(tmp_path / "missing.jsonl")
