"""Filler quotes: how much weaker than the first may a quote be before it is not worth showing?

An answer shows up to five quotes, one per article. When only one passage answers, the others
are whatever else shares a word with the question (an interview line under a training-cost
answer): filler. ``bot.answers.FILLER_RATIO`` hides a quote scoring under that share of the
first quote's score. This measures, for each candidate ratio, on question sets with gold
answers (open domain, as ``articlebot eval`` runs them):

- ``hides gold``: questions where a quote at rank 2–5 holds a gold answer and the rule hides it
  (the price of the rule; it must stay ≤ 2 %);
- ``hides only gold``: of those, the questions whose first quote held no gold answer (the
  reader would lose the answer altogether);
- ``quotes removed``: the share of the quotes at ranks 2–5 that the rule removes (its benefit),
  and ``of which filler``: how many of the removed quotes held no gold answer.

Usage (repository root, in the virtual environment; each set is its corpus folders and questions)::

    python benchmarks/filler.py --cache /tmp/filler \\
        --set cmrc=/path/eval/cmrc2018-trial/questions.jsonl:/path/eval/cmrc2018-trial/corpus:/path/corpus \\
        --set news=/path/eval/news-questions/questions.jsonl:/path/corpus
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import QuestionError
from bot.search.answers import Answerer
from bot.search.evaluation import normalize_for_match, read_questions
from bot.search.library import Library

RATIOS = (0.0, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def shown(spec: str, cache: Path) -> list[list[tuple[float, bool]]]:
    """For each question of a set: its answer's quotes (up to 5) as (score, holds a gold answer)."""
    questions_file, *folders = spec.split(":")
    library = Library.open(Settings(corpus=tuple(Path(f) for f in folders), cache_dir=cache))
    answerer = Answerer(library, filler_ratio=0.0)
    found = []
    for question in read_questions(Path(questions_file)):
        gold = [normalize_for_match(a) for a in question.answers]
        try:
            quotes = answerer.answer(question.question, k=5).quotes
        except QuestionError:
            quotes = ()
        found.append([(q.score, any(g in normalize_for_match(q.paragraph.text) for g in gold)) for q in quotes])
    return found


def effect(answers: list[list[tuple[float, bool]]], ratio: float) -> dict[str, float]:
    hides = hides_only = removed = removed_filler = later = 0
    for quotes in answers:
        if not quotes:
            continue
        floor = quotes[0][0] * ratio
        hidden = [hit for score, hit in quotes[1:] if score < floor]
        later += len(quotes) - 1
        removed += len(hidden)
        removed_filler += sum(not hit for hit in hidden)
        if any(hidden):
            hides += 1
            hides_only += not quotes[0][1]
    n = len(answers)
    return {"ratio": ratio, "hides gold": round(hides / n, 4), "hides only gold": round(hides_only / n, 4),
            "quotes removed": round(removed / max(later, 1), 3),
            "of which filler": round(removed_filler / max(removed, 1), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", required=True, metavar="NAME=QUESTIONS:FOLDER[:FOLDER…]")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for item in args.set:
        name, _, spec = item.partition("=")
        answers = shown(spec, args.cache)
        results[name] = [effect(answers, ratio) for ratio in RATIOS]
    if args.json:
        print(json.dumps(results))
        return 0
    for name, rows in results.items():
        print(f"\n{name}\n| ratio | hides gold | hides only gold | quotes removed | of which filler |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for row in rows:
            print("| " + " | ".join(str(row[key]) for key in ("ratio", "hides gold", "hides only gold",
                                                              "quotes removed", "of which filler")) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
