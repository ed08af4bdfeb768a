"""Fit the ranker's weights (``bot/search/weights.py``) on question sets with gold answers, report
each set's recall with weights fitted without it, and each signal's gain (ablation).

Every question of every set is read and searched once, as ``articlebot eval`` does (open domain: each
set's corpus with the whole shared corpus); the signals of its first ``HEAD`` candidates and whether
each holds a gold answer are kept, and the fit works on those tables alone. Fitting minimises a
softmax loss over each question's candidates (``fit``, projected Adam steps from BM25 alone, each
weight ≥ 0): deterministic, a few seconds.

- Cross-validation: a set's reported figures come from weights fitted on the other sets only
  (leave one set out), so no figure is measured on the questions its weights were chosen on.
- Ablation: the same, with one signal's weight held at 0; its gain is the difference.
- ``--write`` refits on every set and writes the weights the product ships.

Usage (repository root, in the virtual environment; SHARED is the folder with eval/ and corpus/)::

    python -m benchmarks.fit_ranker --shared SHARED --cache /tmp/fit [--write] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.config import Settings
from bot.errors import QuestionError
from bot.search.answers import Answerer
from bot.search.evaluation import normalize_for_match, read_questions
from bot.search.library import Library
from bot.search.ranking import HEAD, SIGNALS, candidates

QUESTIONS = Path(__file__).with_name("questions")
WEIGHTS_FILE = Path(__file__).parents[1] / "bot" / "search" / "weights.py"
STEPS = 400
RATE = 0.05
L2 = 1e-3
"""A little weight decay: of two weightings that order the training questions alike, the smaller."""


@dataclass
class QuestionSet:
    """One set's questions as tables: signals (questions × HEAD × SIGNALS), hits, and which rows exist."""

    name: str
    signals: npt.NDArray[np.float64]
    hits: npt.NDArray[np.bool_]
    rows: npt.NDArray[np.bool_]

    def recall(self, weights: npt.NDArray[np.float64]) -> tuple[float, float]:
        scores = np.where(self.rows, self.signals @ weights, -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")
        ranked = np.take_along_axis(self.hits, order, axis=1)
        return float(ranked[:, :1].any(axis=1).mean()), float(ranked[:, :5].any(axis=1).mean())


def sets(shared: Path) -> dict[str, tuple[Path, list[Path]]]:
    """Name → (questions, corpus folders): the shared sets and the project's own reader questions."""
    corpus, evals = shared / "corpus", shared / "eval"
    return {
        "news": (evals / "news-questions" / "questions.jsonl", [corpus]),
        "news-own": (QUESTIONS / "news-reader-own.jsonl", [corpus]),
        "wechat-own": (QUESTIONS / "wechat-reader-own.jsonl", [corpus]),
        "cmrc2018": (evals / "cmrc2018-trial" / "questions.jsonl", [evals / "cmrc2018-trial" / "corpus", corpus]),
        "drcd": (evals / "drcd-test" / "questions.jsonl", [evals / "drcd-test" / "corpus", corpus]),
    }


def tables(name: str, questions_file: Path, folders: list[Path], cache: Path, settings: Settings) -> QuestionSet:
    """Read and search every question once; keep its head's signals and hits."""
    library = Library.open(replace(settings, corpus=tuple(folders), cache_dir=cache))
    answerer = Answerer(library)
    questions = read_questions(questions_file)
    signals = np.zeros((len(questions), HEAD, len(SIGNALS)))
    hits = np.zeros((len(questions), HEAD), dtype=bool)
    rows = np.zeros((len(questions), HEAD), dtype=bool)
    for i, question in enumerate(questions):
        try:
            query = answerer.query(question.question)
        except QuestionError:
            continue
        head, table, _ = answerer.signals(query, candidates(library, query, HEAD))
        gold = [normalize_for_match(a) for a in question.answers if normalize_for_match(a)]
        signals[i, :len(head)] = table
        rows[i, :len(head)] = True
        hits[i, :len(head)] = [any(g in normalize_for_match(p.paragraph.text) for g in gold) for p in head]
    return QuestionSet(name, signals, hits, rows)


def fit(train: list[QuestionSet], fixed_zero: frozenset[str] = frozenset()) -> npt.NDArray[np.float64]:
    """Weights that make the gold passages likely under a softmax over each question's candidates
    (the listwise loss of ListNet, each set weighing the same), by projected gradient descent from
    BM25 alone: smooth where recall@1 is a staircase, so what it learns carries to other questions."""
    free = np.array([name not in fixed_zero for name in SIGNALS], dtype=float)
    weights = np.zeros(len(SIGNALS))
    weights[SIGNALS.index("bm25")] = 1.0
    parts = [_answerable(s) for s in train]
    moment, velocity = np.zeros_like(weights), np.zeros_like(weights)
    for step in range(1, STEPS + 1):
        gradient = np.mean([_gradient(x, hits, rows, weights) for x, hits, rows in parts], axis=0)
        gradient = gradient * free + L2 * weights
        moment = 0.9 * moment + 0.1 * gradient
        velocity = 0.999 * velocity + 0.001 * gradient ** 2
        weights = weights - RATE * (moment / (1 - 0.9 ** step)) / (np.sqrt(velocity / (1 - 0.999 ** step)) + 1e-8)
        weights = np.maximum(weights, 0.0) * free
    return weights


def _answerable(s: QuestionSet) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The questions with a gold passage among their candidates: the others teach nothing about order."""
    keep = (s.hits & s.rows).any(axis=1)
    return s.signals[keep], s.hits[keep] & s.rows[keep], s.rows[keep]


def _gradient(x: npt.NDArray[np.float64], hits: npt.NDArray[np.bool_], rows: npt.NDArray[np.bool_],
              weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """d/dw of the mean of −log(Σ_gold e^s / Σ_all e^s), s = x·w."""
    scores = np.where(rows, x @ weights, -np.inf)
    scores -= scores.max(axis=1, keepdims=True)
    every = np.exp(scores)
    gold = np.where(hits, every, 0.0)
    p_all = every / every.sum(axis=1, keepdims=True)
    p_gold = gold / gold.sum(axis=1, keepdims=True)
    return np.einsum("qc,qcs->s", p_all - p_gold, x) / len(x)


def cross_validated(question_sets: list[QuestionSet], fixed_zero: frozenset[str] = frozenset()) -> dict[str, tuple[float, float]]:
    """Each set's recall@1 and @5 with weights fitted on the other sets."""
    found = {}
    for held in question_sets:
        weights = fit([s for s in question_sets if s is not held], fixed_zero)
        found[held.name] = held.recall(weights)
    return found


def write_weights(weights: npt.NDArray[np.float64], names: list[str]) -> None:
    text = WEIGHTS_FILE.read_text(encoding="utf-8")
    head = text[:text.index("WEIGHTS = {")]
    body = "".join(f'    "{name}": {float(w)!r},\n' for name, w in zip(SIGNALS, weights))
    WEIGHTS_FILE.write_text(f"{head}WEIGHTS = {{\n{body}}}\n", encoding="utf-8")
    print(f"wrote {WEIGHTS_FILE} (fitted on {', '.join(names)})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, required=True, help="the folder holding eval/ and corpus/")
    parser.add_argument("--cache", type=Path, required=True, help="index cache folder")
    parser.add_argument("--only", nargs="*", help="fit and report on these sets only")
    parser.add_argument("--write", action="store_true", help="write the weights fitted on every set")
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--k1", type=float, default=Settings().k1, help="BM25's k1 (to compare settings)")
    parser.add_argument("--b", type=float, default=Settings().b, help="BM25's b")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = Settings(k1=args.k1, b=args.b)
    question_sets = [tables(name, q, folders, args.cache, settings) for name, (q, folders) in sets(args.shared).items()
                     if not args.only or name in args.only]
    print(f"read {sum(len(s.hits) for s in question_sets)} questions in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    bm25 = np.eye(len(SIGNALS))[SIGNALS.index("bm25")]
    report: dict[str, object] = {"bm25 alone": {s.name: s.recall(bm25) for s in question_sets},
                                 "cross-validated": cross_validated(question_sets)}
    if not args.no_ablation:
        report["without"] = {name: cross_validated(question_sets, frozenset({name}))
                             for name in SIGNALS if name != "bm25"}
    everything = fit(question_sets)
    report["weights"] = dict(zip(SIGNALS, everything.tolist()))
    report["fitted on every set"] = {s.name: s.recall(everything) for s in question_sets}
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    if args.write:
        write_weights(everything, [s.name for s in question_sets])
    return 0


def print_report(report: dict[str, object]) -> None:
    cv = report["cross-validated"]
    assert isinstance(cv, dict)
    names = list(cv)
    print("set".ljust(24) + "".join(f"{n:>20}" for n in names))
    for label in ("bm25 alone", "cross-validated", "fitted on every set"):
        row = report[label]
        assert isinstance(row, dict)
        print(label.ljust(24) + "".join(f"{row[n][0]:>12.3f} /{row[n][1]:.3f}" for n in names))
    without = report.get("without")
    if isinstance(without, dict):
        print("gain of each signal (cross-validated recall@1, points):")
        for signal, row in without.items():
            print(f"  {signal:<22}" + "".join(f"{100 * (cv[n][0] - row[n][0]):>+20.1f}" for n in names))
    print("weights:", json.dumps(report["weights"]))


if __name__ == "__main__":
    sys.exit(main())
