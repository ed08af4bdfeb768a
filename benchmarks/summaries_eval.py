"""Benchmark of extractive summaries: ROUGE against written abstracts, and speed on news articles.

Usage (from the repository root, in the virtual environment, with ``pip install sumy`` for
the TextRank and LexRank baselines)::

    python benchmarks/summaries_eval.py --abstracts /path/to/corpus/wechat \
        --news /path/to/corpus/news --cache /tmp/sumcache [--budget 150] [--json out.json]

``--abstracts``: a folder of articles with a ``## 摘要`` section (see ``bot.rouge``);
``--news``: any folder of articles, timed with 100 of them chosen at random (seed 1).
Prints the Markdown tables that ``benchmarks/summaries.md`` holds.

``--readability DIR [DIR ...]`` alone reads every tag's summaries of each collection as a reader
would (``bot.summaries.rouge.readability``) and prints the shares of sentences that trip one up::

    python benchmarks/summaries_eval.py --readability /path/to/corpus/news /path/to/corpus/wechat
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.search.library import Library
from bot.summaries.catalog import Summarizer
from bot.summaries.rouge import ALL_SYSTEMS, Readability, evaluate_summaries, readability, readability_table


def quality(folder: Path, budget: int, cache: Path) -> dict[str, Any]:
    """Both halves, and all articles as their article-weighted mean (the same number as scoring
    all at once, without running the slow sumy baselines twice)."""
    library = Library.open(Settings(corpus=(folder,), cache_dir=cache))
    halves = {half: evaluate_summaries(folder, budget, ALL_SYSTEMS, half=half, library=library) for half in "ab"}
    a, b = halves["a"], halves["b"]
    total = a["articles"] + b["articles"]
    combined = {name: {key: round((a["systems"][name][key] * a["articles"] + b["systems"][name][key]
                                   * b["articles"]) / total, 4) for key in scores}
                for name, scores in a["systems"].items()}
    return {**halves, "all": {**a, "articles": total, "half": "all", "systems": combined}}


def speed(folder: Path, cache: Path, count: int = 100, repeats: int = 5) -> dict[str, Any]:
    """Seconds for each step; the warm summary timing is repeated with fresh summarizers (the
    machine is shared, so the median is the figure to quote)."""
    started = time.perf_counter()
    library = Library.open(Settings(corpus=(folder,), cache_dir=cache))
    library.tokenizer("预热")
    timings: dict[str, Any] = {"articles": len(library.articles),
                               "open library (cached index)": time.perf_counter() - started}
    chosen = random.Random(1).sample(library.articles, min(count, len(library.articles)))

    summarizer = Summarizer(library)
    started = time.perf_counter()
    for article in chosen:
        summarizer.summarize(article, from_body_only=True)
    timings[f"{len(chosen)} summaries, first in the process (includes the one-time tables)"] = (
        time.perf_counter() - started)

    summarizer = Summarizer(library)
    for step, work in (("learn style", lambda: summarizer.style),
                       ("topics of all articles + name table", summarizer._names)):
        started = time.perf_counter()
        work()
        timings[step] = time.perf_counter() - started
    runs = []
    for _ in range(repeats):
        fresh = Summarizer(library)
        fresh.warm()
        started = time.perf_counter()
        for article in chosen:
            fresh.summarize(article, from_body_only=True)
        runs.append(time.perf_counter() - started)
    timings[f"{len(chosen)} summaries after warm(), median of {repeats} (min–max)"] = (
        f"{statistics.median(runs):.3f} ({min(runs):.3f}–{max(runs):.3f})")
    started = time.perf_counter()
    for article in chosen:
        fresh.summarize(article, from_body_only=True)
    timings[f"{len(chosen)} summaries again (cached)"] = time.perf_counter() - started
    for name in ("iyiou", "deep seek", "華為"):
        started = time.perf_counter()
        fresh.digest(name)
        timings[f"digest({name!r}) page 1 with overview"] = time.perf_counter() - started
    return timings


def readabilities(folders: list[Path], cache: Path) -> dict[str, Readability]:
    """Each collection's readability, keyed by its folder's name."""
    return {folder.name: readability(Summarizer(Library.open(Settings(corpus=(folder,), cache_dir=cache))))
            for folder in folders}


def markdown(results: dict[str, Any], timings: dict[str, Any]) -> str:
    lines = ["| system | half | articles | ROUGE-1 F1 | ROUGE-2 F1 | ROUGE-L F1 |", "|---|---|---|---|---|---|"]
    for half, result in results.items():
        for system, scores in result["systems"].items():
            lines.append(f"| {system} | {half} | {result['articles']} | {scores['rouge1']:.4f} | "
                         f"{scores['rouge2']:.4f} | {scores['rougeL']:.4f} |")
        for note in result.get("notes", []):
            lines.append(f"| note: {note} | | | | | |")
    lines += ["", "| step | seconds |", "|---|---|"]
    lines += [f"| {step} | {value:.3f} |" if isinstance(value, float) else f"| {step} | {value} |"
              for step, value in timings.items()]
    machine = (f"machine: {platform.platform()}, Python {platform.python_version()}, "
               f"{platform.processor() or platform.machine()}")
    lines += ["", machine]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=UserWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--abstracts", type=Path)
    parser.add_argument("--news", type=Path)
    parser.add_argument("--readability", type=Path, nargs="+", metavar="DIR")
    parser.add_argument("--cache", type=Path, default=Path(".articlebot-cache"))
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.readability:
        results = readabilities(args.readability, args.cache)
        print(readability_table(results))
        if args.json:
            args.json.write_text(json.dumps({name: {"sentences": r.sentences, "summaries": r.summaries,
                                                    "counts": r.counts, "examples": r.examples}
                                             for name, r in results.items()}, ensure_ascii=False, indent=2),
                                 encoding="utf-8")
        return 0
    if not (args.abstracts and args.news):
        parser.error("--abstracts and --news are needed (or --readability DIR ...)")
    timings = speed(args.news, args.cache)
    results = quality(args.abstracts, args.budget, args.cache)
    print(markdown(results, timings))
    if args.json:
        args.json.write_text(json.dumps({"rouge": results, "timings": timings}, ensure_ascii=False, indent=2),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
