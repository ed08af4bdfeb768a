"""The searchable library: articles, their paragraphs and the index, cached on disk.

Opening is cheap when nothing changed: the file list's sizes and modification times are
compared with the manifest of the last build and, if equal, the articles and the index are
loaded as they were (no YAML parsing, no tokenizing). When files changed, only those are
parsed and tokenized again (a per-file cache keyed by content hash holds the rest) and
the index is rebuilt from the cached tokens, which takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sqlite3
import time
from bisect import bisect_right
from itertools import accumulate
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from dataclasses import dataclass, replace
from pathlib import Path

from bot import __version__
from bot.articles import PARAGRAPHS_VERSION, Article, LoadReport, Paragraph, find_markdown_files, load_article, read_text
from bot.config import Settings
from bot.errors import CorpusError
from bot.index import BM25Params, Hit, ImpactIndex
from bot.tokens import Tokenizer

Progress = Callable[[int, int], None]
"""Called with (files done, files total) while indexing."""


@dataclass(frozen=True)
class Passage:
    """A search result with everything an answer needs to quote and cite it."""

    article: Article
    paragraph: Paragraph
    score: float
    index: int


@dataclass(frozen=True)
class FileResult:
    """One file, parsed and tokenized (or the reason it could not be)."""

    article: Article | None
    error: CorpusError | None
    tokens: list[list[str]]


def paragraph_tokens(tokenizer: Tokenizer, article: Article) -> list[list[str]]:
    """A paragraph is indexed with its heading and its article's title: questions name the topic."""
    title = tokenizer(article.title)
    headings = {h: tokenizer(h) for h in {p.heading for p in article.paragraphs}}
    return [tokenizer(p.text) + headings[p.heading] + title for p in article.paragraphs]


def _process_file(tokenizer: Tokenizer, job: tuple[str, str, int]) -> FileResult:
    """Read, parse and tokenize one file."""
    path, display, max_bytes = job
    try:
        article = load_article(Path(path), read_text(Path(path), max_bytes), display)
    except CorpusError as error:
        return FileResult(None, error, [])
    return FileResult(article, None, paragraph_tokens(tokenizer, article))


_worker_tokenizer: Tokenizer | None = None
"""The tokenizer of a worker process, set once by its initializer."""


def _init_worker(tokenizer: Tokenizer) -> None:
    global _worker_tokenizer
    _worker_tokenizer = tokenizer


def _process_in_worker(job: tuple[str, str, int]) -> FileResult:
    assert _worker_tokenizer is not None, "the pool initializer sets it"
    return _process_file(_worker_tokenizer, job)


class FileCache:
    """Parsed articles and their tokens by content hash, so a re-index only redoes changed files."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError:
            path.unlink(missing_ok=True)  # a corrupt cache is only a cache: start it afresh
            self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE IF NOT EXISTS files (digest TEXT PRIMARY KEY, result BLOB)")
        db.execute("SELECT count(*) FROM files").fetchone()
        return db

    def get(self, digest: str) -> FileResult | None:
        row = self._db.execute("SELECT result FROM files WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            return None
        try:
            result: FileResult = pickle.loads(row[0])
        except Exception:  # noqa: BLE001 - a stale or corrupt entry is simply recomputed
            return None
        return result

    def put_many(self, items: Iterable[tuple[str, FileResult]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?)",
                                 ((d, pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)) for d, r in items))

    def close(self) -> None:
        self._db.close()


class Library:
    """Articles, paragraphs and their index; ``Library.open`` builds or loads it."""

    def __init__(self, articles: list[Article], index: ImpactIndex, report: LoadReport,
                 tokenizer: Tokenizer, built_at: float, rebuilt: bool) -> None:
        self.articles = articles
        self.index = index
        self.report = report
        self.tokenizer = tokenizer
        self.built_at = built_at
        self.rebuilt = rebuilt
        self._starts = list(accumulate((len(a.paragraphs) for a in articles), initial=0))

    @property
    def paragraph_count(self) -> int:
        return self._starts[-1]

    def passage(self, hit: Hit) -> Passage:
        """Paragraphs are numbered article after article, in load order."""
        article_no = bisect_right(self._starts, hit.paragraph) - 1
        article = self.articles[article_no]
        paragraph = article.paragraphs[hit.paragraph - self._starts[article_no]]
        return Passage(article, paragraph, hit.score, hit.paragraph)

    def search(self, tokens: Sequence[str], k: int) -> list[Passage]:
        """The k best passages for already-tokenized words, best first."""
        return [self.passage(hit) for hit in self.index.search(tokens, k)]

    @classmethod
    def open(cls, settings: Settings, progress: Progress | None = None,
             tokenizer: Tokenizer | None = None) -> Library:
        """Load the cached library if the corpus is unchanged, else (re)build what changed."""
        tokenizer = tokenizer or Tokenizer()
        report = LoadReport()
        files = find_markdown_files(settings.corpus, report)
        params = BM25Params(settings.k1, settings.b, settings.epsilon)
        cache = _cache_folder(settings, tokenizer)
        fingerprint = _fingerprint(files)
        cached = _load_built(cache, fingerprint, tokenizer, report)
        if cached is not None:
            return cached
        results = _process_files(files, settings, tokenizer, progress)
        articles: list[Article] = []
        documents: list[list[str]] = []
        for result in results:
            if result.article is not None:
                articles.append(result.article)
                documents.extend(result.tokens)
            elif result.error is not None:
                report.skipped.append(result.error)
        index = ImpactIndex.build(documents, params)
        built_at = time.time()
        _save_built(cache, fingerprint, articles, index, report, built_at)
        return cls(articles, index, report, tokenizer, built_at, rebuilt=True)


def _cache_folder(settings: Settings, tokenizer: Tokenizer) -> Path:
    """One folder per (corpus folders, settings, code version): changing any starts afresh."""
    key = json.dumps([__version__, PARAGRAPHS_VERSION, tokenizer.cache_key, [str(p.resolve()) for p in settings.corpus],
                      settings.k1, settings.b, settings.epsilon, settings.max_file_bytes])
    return settings.cache_dir / hashlib.sha1(key.encode()).hexdigest()[:16]


def _fingerprint(files: list[Path]) -> list[list[object]]:
    stats = []
    for path in files:
        try:
            stat = path.stat()
            stats.append([str(path), stat.st_size, stat.st_mtime_ns])
        except OSError:
            stats.append([str(path), -1, -1])
    return stats


def _load_built(cache: Path, fingerprint: list[list[object]], tokenizer: Tokenizer,
                report: LoadReport) -> Library | None:
    try:
        manifest = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
        if manifest["files"] != fingerprint:
            return None
        built_at = float(manifest["built_at"])
        with (cache / "articles.pkl").open("rb") as handle:
            articles, saved_report = pickle.load(handle)
        index = ImpactIndex.load(cache / "index")
        if not isinstance(saved_report, LoadReport) or index.n_docs != sum(len(a.paragraphs) for a in articles):
            return None
    except Exception:  # noqa: BLE001 - any unreadable cache is rebuilt, never trusted
        return None
    report.articles = articles
    for kept, saved in ((report.skipped, saved_report.skipped), (report.notices, saved_report.notices)):
        known = {str(error) for error in kept}
        kept.extend(error for error in saved if str(error) not in known)
    return Library(articles, index, report, tokenizer, built_at, rebuilt=False)


def _save_built(cache: Path, fingerprint: list[list[object]], articles: list[Article], index: ImpactIndex,
                report: LoadReport, built_at: float) -> None:
    """Write the build, manifest last, so that an interrupted write is never taken as complete."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "manifest.json").unlink(missing_ok=True)
    index.save(cache / "index")
    report.articles = articles
    with (cache / "articles.pkl").open("wb") as handle:
        pickle.dump((articles, LoadReport(skipped=report.skipped, notices=report.notices)), handle,
                    protocol=pickle.HIGHEST_PROTOCOL)
    manifest = {"files": fingerprint, "built_at": built_at}
    tmp = cache / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, cache / "manifest.json")


def _digest(path: Path) -> str:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return f"unreadable:{path}"


def _process_files(files: list[Path], settings: Settings, tokenizer: Tokenizer,
                   progress: Progress | None) -> list[FileResult]:
    """Parse and tokenize the files the per-file cache lacks, in parallel."""
    file_cache = FileCache(settings.cache_dir / "files.sqlite")
    salt = f"{__version__}:{PARAGRAPHS_VERSION}:{tokenizer.cache_key}:{settings.max_file_bytes}:"
    digests = [salt + _digest(path) for path in files]
    results: list[FileResult | None] = []
    missing: list[int] = []
    for i, (path, digest) in enumerate(zip(files, digests)):
        hit = file_cache.get(digest)
        if hit is not None and hit.article is not None:
            hit = replace(hit, article=replace(hit.article, path=str(path)))
        elif hit is not None and hit.error is not None:
            hit = replace(hit, error=CorpusError(path, hit.error.reason, hit.error.line))
        results.append(hit)
        if hit is None:
            missing.append(i)
    done = len(files) - len(missing)
    if progress:
        progress(done, len(files))
    jobs = [(str(files[i]), str(files[i]), settings.max_file_bytes) for i in missing]
    fresh: list[tuple[str, FileResult]] = []
    for i, result in zip(missing, _map(jobs, settings.workers, tokenizer)):
        results[i] = result
        fresh.append((digests[i], result))
        done += 1
        if progress:
            progress(done, len(files))
    file_cache.put_many(fresh)
    file_cache.close()
    return [r for r in results if r is not None]


def _map(jobs: list[tuple[str, str, int]], workers: int, tokenizer: Tokenizer) -> Iterable[FileResult]:
    """Tokenize on every core; small jobs stay in this process (starting workers costs a second)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 64:
        return map(partial(_process_file, tokenizer), jobs)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(tokenizer,))
    chunks = max(1, min(32, len(jobs) // (workers * 8)))
    return _drain(pool, pool.map(_process_in_worker, jobs, chunksize=chunks))


def _drain(pool: ProcessPoolExecutor, results: Iterable[FileResult]) -> Iterable[FileResult]:
    try:
        yield from results
    finally:
        pool.shutdown()
