"""Build a large benchmark corpus by replicating real articles up to a paragraph count.

    python benchmarks/make_corpus.py --source /work/shared/corpus --paragraphs 100000 --out /tmp/corpus-100k

Paragraphs are counted the way articlebot counts them (``bot.articles.load_article``), so
the corpus holds N paragraphs as articlebot sees them (exactly N when some file fits the
remainder, else a few more). Copy ``c`` of a file lives at ``OUT/cNNNN/<folder>/<stem>-cNNNN.md``;
copy 0 is the file byte for byte, later copies get ``" cNNNN"`` appended to the front-matter
title and a ``benchmark_copy: NNNN`` key, so each copy is a distinct file and a distinct
document (the title is indexed with every paragraph, so each copy carries one token of its
own). Bodies are unchanged: copies of a paragraph score alike, which the ranking check in
bench.py accounts for (ties at the 10th score).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

from bot.errors import CorpusError
from bot.search.articles import LoadReport, find_markdown_files, load_article, read_text, split_front_matter

MAX_BYTES = 5 * 1024 * 1024
"""articlebot's default ARTICLEBOT_MAX_FILE_MB."""

_TITLE_LINE = re.compile(r"^title\s*:", re.MULTILINE)


def count_paragraphs(paths: list[Path]) -> list[tuple[Path, int, str]]:
    """(path, paragraphs, text) for every file articlebot would load; skipped files are dropped."""
    counted = []
    for path in paths:
        try:
            text = read_text(path, MAX_BYTES)
            article = load_article(path, text)
        except CorpusError as error:
            print(f"  skip {error}", file=sys.stderr)
            continue
        counted.append((path, len(article.paragraphs), text))
    return counted


def variant(path: Path, text: str, copy: int) -> str:
    """The file's text for copy ``copy``: title and front matter marked, body untouched."""
    if copy == 0:
        return text
    mark = f"c{copy:04d}"
    metadata, _ = split_front_matter(path, text)
    if not metadata:
        return f"---\nbenchmark_copy: {copy}\n---\n" + text.lstrip("\ufeff")
    stripped = text.lstrip("\ufeff")
    end = stripped.index("\n---", 3)
    head, rest = stripped[:end], stripped[end:]
    title = metadata.get("title")
    match = _TITLE_LINE.search(head)
    if isinstance(title, str) and match:
        # Replace the title entry (its line and any indented continuation lines) with a JSON
        # string, which is valid YAML whatever quoting the original used.
        line_end = head.find("\n", match.start())
        line_end = len(head) if line_end < 0 else line_end
        while line_end < len(head) and head[line_end + 1:line_end + 2] in (" ", "\t"):
            nxt = head.find("\n", line_end + 1)
            line_end = len(head) if nxt < 0 else nxt
        head = head[:match.start()] + "title: " + json.dumps(f"{title} {mark}", ensure_ascii=False) + head[line_end:]
    return head + f"\nbenchmark_copy: {copy}" + rest


def check_variants(counted: list[tuple[Path, int, str]]) -> None:
    """Every marked copy must parse to the same paragraphs with the marked title."""
    for path, n, text in counted:
        article = load_article(path, variant(path, text, 1))
        original = load_article(path, text)
        if len(article.paragraphs) != n or article.paragraphs != original.paragraphs:
            raise SystemExit(f"{path}: the marked copy parses to different paragraphs")
        if original.title != path.stem and article.title != f"{original.title} c0001":
            print(f"  note: {path.name}: title {original.title!r} -> {article.title!r}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, action="append", required=True,
                        help="folder of Markdown articles (repeatable)")
    parser.add_argument("--paragraphs", type=float, required=True, help="target paragraph count (1e6 works)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (must not exist or be empty)")
    parser.add_argument("--seed", type=int, default=0, help="order in which the last, partial copy picks files")
    args = parser.parse_args(argv)
    target = int(args.paragraphs)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty")
    started = time.perf_counter()
    report = LoadReport()
    sources = [s.resolve() for s in args.source]
    paths = find_markdown_files(sources, report)
    counted = count_paragraphs(paths)
    per_copy = sum(n for _, n, _ in counted)
    if not per_copy:
        parser.error("the source holds no article articlebot can load")
    check_variants(counted)
    print(f"source: {len(counted)} articles, {per_copy} paragraphs "
          f"({len(paths) - len(counted)} skipped) in {time.perf_counter() - started:.1f} s")

    def relative(path: Path) -> Path:
        for source in sources:
            if path.is_relative_to(source):
                return Path(source.name) / path.relative_to(source)
        return Path(path.name)

    total = files = written_bytes = 0
    copy = 0
    rng = random.Random(args.seed)
    while total < target:
        remaining = target - total
        if per_copy <= remaining:
            chosen = counted
        else:
            # The last copy: a random subset that lands on the target, topped off with a
            # file whose paragraph count equals the remainder when one exists.
            order = list(range(len(counted)))
            rng.shuffle(order)
            picked: list[int] = []
            for i in order:
                if counted[i][1] <= remaining:
                    picked.append(i)
                    remaining -= counted[i][1]
                if remaining == 0:
                    break
            if remaining:
                unused = sorted(set(order) - set(picked), key=lambda i: counted[i][1])
                picked.extend(unused[:1])
            chosen = [counted[i] for i in picked]
        folder = args.out / f"c{copy:04d}"
        for path, n, text in chosen:
            rel = relative(path)
            target_path = folder / rel.parent / f"{rel.stem}-c{copy:04d}.md"
            target_path.parent.mkdir(parents=True, exist_ok=True)
            data = variant(path, text, copy).encode("utf-8")
            target_path.write_bytes(data)
            written_bytes += len(data)
            total += n
            files += 1
        copy += 1
    seconds = time.perf_counter() - started
    summary = {"out": str(args.out), "paragraphs": total, "files": files, "copies": copy,
               "bytes": written_bytes, "source_paragraphs": per_copy, "source_articles": len(counted),
               "seconds": round(seconds, 1)}
    (args.out / "README.md").write_text(
        "# Benchmark corpus (generated)\n\nMade by `benchmarks/make_corpus.py`; not an article.\n\n"
        f"```json\n{json.dumps(summary, indent=2)}\n```\n", encoding="utf-8")
    print(f"made {args.out}: {files} files, {total} paragraphs, {copy} copies "
          f"({copy - 1} full + 1 partial), {written_bytes / 1e6:.0f} MB in {seconds:.1f} s")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
