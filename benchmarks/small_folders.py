"""Small collections: does a folder of 1, 3 or 10 articles answer its own words?

A new user's first folder is small, and BM25 behaves differently there: a word in half the
paragraphs is common, title words are in every paragraph of their article. This draws random
folders of k articles from a corpus and asks, of each article:

- its title (what a reader types to find it again), and one word of it,
- a sentence copied from its body, and one word of it,

and counts how often the answer quotes anything at all (``answered``) and how often its first
quote comes from the right article (``first``); for body sentences also the right paragraph.

Usage (repository root, in the virtual environment)::

    python benchmarks/small_folders.py --corpus /path/to/corpus/news [--sizes 1,3,10] [--folders 40]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import QuestionError
from bot.search.answers import Answerer
from bot.search.library import Library
from bot.search.markup import split_sentences


def _sentence(article: Any, rng: random.Random) -> tuple[str, int] | None:
    """A sentence of 15–120 characters from the body, and its paragraph's position."""
    choices = [(s.strip(), p.position) for p in article.paragraphs for s in split_sentences(p.text)
               if 15 <= len(s.strip()) <= 120]
    return rng.choice(choices) if choices else None


def _word(words: list[str], rng: random.Random) -> str | None:
    """A word a reader might type: two or more CJK characters, or four or more letters."""
    choices = [w for w in words if (len(w) >= 2 and not w.isascii()) or (w.isascii() and len(w) >= 4
                                                                          and w.isalpha())]
    return rng.choice(choices) if choices else None


def measure(corpus: Path, size: int, folders: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed * 1000 + size)
    files = sorted(p for p in corpus.rglob("*.md") if p.name.lower() != "readme.md")
    tally: dict[str, list[bool]] = defaultdict(list)
    for n in range(folders):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "articles"
            folder.mkdir()
            for path in rng.sample(files, size):
                shutil.copy(path, folder / path.name)
            library = Library.open(Settings(corpus=(folder,), cache_dir=Path(tmp) / "cache", workers=1))
            answerer = Answerer(library)
            for article in library.articles:
                asked = _sentence(article, rng)
                questions = [("title", article.title, None)] + ([("body", asked[0], asked[1])] if asked else [])
                title_word = _word(library.tokenizer.words(article.title), rng)
                body_word = _word(library.tokenizer.words(asked[0]), rng) if asked else None
                questions += [(kind, word, None) for kind, word in (("title word", title_word),
                                                                    ("body word", body_word)) if word]
                for kind, question, position in questions:
                    try:
                        answer = answerer.answer(question, k=3)
                    except QuestionError:
                        answer = None
                    quotes = answer.quotes if answer else ()
                    tally[f"{kind} answered"].append(bool(quotes))
                    tally[f"{kind} first"].append(bool(quotes) and quotes[0].article.path == article.path)
                    if position is not None:
                        tally[f"{kind} paragraph"].append(bool(quotes) and quotes[0].article.path == article.path
                                                          and quotes[0].paragraph.position == position)
                    tally[f"{kind} quotes"].append(len(quotes))  # type: ignore[arg-type]
    return {key: round(statistics.fmean(values), 3) for key, values in sorted(tally.items())} | {
        "articles asked": len(tally["title first"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="folder of articles to draw folders from")
    parser.add_argument("--sizes", default="1,3,10", help="articles per folder, comma-separated")
    parser.add_argument("--folders", type=int, default=40, help="random folders per size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = {size: measure(args.corpus, int(size), args.folders, args.seed) for size in args.sizes.split(",")}
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    keys = sorted({key for figures in results.values() for key in figures})
    print("| articles per folder | " + " | ".join(keys) + " |")
    print("| --- |" + " ---: |" * len(keys))
    for size, figures in results.items():
        print(f"| {size} | " + " | ".join(str(figures.get(key, "")) for key in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
