"""What one file costs a build worker, stage by stage, on one core.

A cold build is a worker's per-file work times the files, divided by the cores: this prints that
work by stage (read, parse, tokenize, line prints, pickle and compress, the result pickled for the
parent), with one ``Vocabulary`` growing over the sample as a worker's grows over its share of a build.

    python benchmarks/stages.py --corpus bench/corpus-100k --files 4000
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

from bot.search import library
from bot.search.articles import LoadReport, list_pages, load_article, read_text
from bot.search.boilerplate import lines_of
from bot.search.site import open_site
from bot.search.tokens import Tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--files", type=int, default=4000, help="files to time, spread evenly over the corpus")
    args = parser.parse_args()
    site = open_site(args.corpus, None)
    pages = list_pages(site, LoadReport())
    pages = pages[::max(1, len(pages) // args.files)]
    tokenizer = Tokenizer()
    tokenizer.warm()
    vocabulary = library.Vocabulary()
    spent = dict.fromkeys(("read", "parse", "tokenize", "line prints", "pickle+compress", "result pickled"), 0.0)
    for path, _, _ in pages:
        start = time.perf_counter()
        text = read_text(Path(path), 1 << 30)
        read = time.perf_counter()
        article = load_article(Path(path), text, site=site)
        parsed = time.perf_counter()
        article, tokens = library.indexed(tokenizer, article, vocabulary)
        tokenized = time.perf_counter()
        lines = lines_of(article)
        printed = time.perf_counter()
        frozen = library.freeze(article)
        frozen_at = time.perf_counter()
        pickle.dumps(library.FileResult(library.Facts.of(article), None, tokens, lines, article.expires, frozen),
                     protocol=pickle.HIGHEST_PROTOCOL)
        done = time.perf_counter()
        for stage, seconds in zip(spent, (read - start, parsed - read, tokenized - parsed, printed - tokenized,
                                          frozen_at - printed, done - frozen_at)):
            spent[stage] += seconds
    for stage, seconds in spent.items():
        print(f"{stage:16s} {seconds * 1000 / len(pages):6.3f} ms a file")
    print(f"{'total':16s} {sum(spent.values()) * 1000 / len(pages):6.3f} ms a file ({len(pages)} files)")


if __name__ == "__main__":
    main()
