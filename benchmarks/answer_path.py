"""The whole answer path, timed as the bot answers: ``Answerer.answer`` (tokenize, look up, search 60,
re-rank, relevance floor, quote) with the compiled search, on a sample of real questions.

Usage (repository root, in the virtual environment)::

    python benchmarks/answer_path.py --corpus /tmp/bc/corpus-100k --cache /tmp/bc/cache-100k \\
        --questions ../shared/eval/cmrc2018-trial/questions.jsonl --questions … [--sample 300]

Prints JSON: the answer path's and the search's p50 / p99 / max in ms, over the same questions,
after 50 warm-up questions, with the garbage collector paused (as ``bench.py`` times searches).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

from bot.config import Settings
from bot.errors import QuestionError
from bot.search.answers import Answerer
from bot.search.compiled import CompiledSearch
from bot.search.library import Library


def percentiles(ns: list[int]) -> dict[str, float]:
    ns = sorted(ns)
    return {"p50_ms": round(ns[len(ns) // 2] / 1e6, 3), "p99_ms": round(ns[max(0, int(len(ns) * 0.99) - 1)] / 1e6, 3),
            "max_ms": round(ns[-1] / 1e6, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--questions", type=Path, action="append", required=True)
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args(argv)
    library = Library.open(Settings(corpus=(args.corpus,), cache_dir=args.cache), scorer=CompiledSearch(args.cache))
    answerer = Answerer(library)
    questions = [json.loads(line)["question"] for path in args.questions
                 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(1).shuffle(questions)
    questions = questions[:args.sample]

    def answer(question: str) -> None:
        try:
            answerer.answer(question)
        except QuestionError:
            pass

    for question in questions[:50]:
        answer(question)
    tokens = [answerer.tokens(q) for q in questions]
    gc.disable()
    answer_ns, search_ns = [], []
    for question, asked in zip(questions, tokens):
        start = time.perf_counter_ns()
        answer(question)
        answer_ns.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        library.index.search(asked, 10)
        search_ns.append(time.perf_counter_ns() - start)
    gc.enable()
    print(json.dumps({"paragraphs": library.paragraph_count, "questions": len(questions),
                      "answer": percentiles(answer_ns), "search": percentiles(search_ns)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
