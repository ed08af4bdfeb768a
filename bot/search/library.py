"""The searchable library: articles, their paragraphs and the index, cached on disk.

Opening must be quick however large the corpus is, because every `articlebot ask` and
every bot start opens it. The cache folder holds:

- ``manifest.pkl``: every corpus file as the last build saw it (size, modification time,
  how many paragraphs it gave, or why it was skipped), in index order;
- ``index-N/``: the BM25 postings, memory-mapped, so nothing is read until a query needs it;
- ``delta-N/``: after an update, the changed and added files' postings and the base's deleted
  paragraphs (``index.Segmented``), with the boilerplate and its line counts;
- ``articles.sqlite``: each article, compressed, read only when a hit or a digest shows it.

When the files' sizes and times equal the manifest's, opening is that and nothing more:
no YAML parsing, no tokenizing, no article loaded. When some changed, only those files are
parsed and tokenized; the base keeps the postings of every other file and the changed ones
go to a new delta, so one edited article costs about a second at a million paragraphs, not a
rebuild. The delta (or a merged index) is written to a new folder and the manifest switched
last, so a process still serving the old one (or a crash midway) never sees a half-written index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import sqlite3
import sys
import threading
import time
import zlib
from bisect import bisect_right
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property, partial
from itertools import accumulate
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt

from bot import __version__
from bot.config import Settings
from bot.errors import CorpusError, IndexCacheError
from bot.search.articles import (
    PARAGRAPHS_VERSION,
    Article,
    LoadReport,
    NotPublished,
    Paragraph,
    list_pages,
    load_article,
    read_text,
)
from bot.search.boilerplate import Boilerplate, Lines, lines_of
from bot.search.index import (
    BM25Index,
    BM25Params,
    EncodedTokens,
    Hit,
    IndexBuilder,
    Scorer,
    Segmented,
    Terms,
    frequencies_in,
    load_segmented,
    merged,
    numbered,
    positions_in,
    save_delta,
)
from bot.search.markup import sentence_spans
from bot.search.site import Site, open_site
from bot.search.tokens import CJK_RANGES, STOP_CHARACTERS, STOPWORDS, Tokenizer

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (files done, files total) while indexing."""
MANIFEST_VERSION = 7
DELTA_SHARE = 16
"""An update merges the delta into its base (one whole new index) once the delta's paragraphs and the
base's deleted ones pass 1/DELTA_SHARE of the base: until then every search reads both segments
(measured at 100k: a one-file delta adds ~0.01 ms to a question's 0.08 ms, one of 9% ~0.04 ms)."""
ARTICLE_CACHE_SIZE = 4096
"""Articles kept in memory once read (a hit's article, a digest's page)."""


@dataclass(frozen=True)
class Passage:
    """A search result with everything an answer needs to quote and cite it; its article is read only
    when asked for (an answer ranks 60 passages and quotes three: most are never read from disk)."""

    score: float
    index: int
    """The paragraph's number in the index."""
    article_no: int
    """Its article's number in the library: passages of one article share it."""
    position: int
    """The paragraph's position in its article."""
    shelf: Sequence[Article] = field(repr=False, compare=False)

    @property
    def article(self) -> Article:
        return self.shelf[self.article_no]

    @property
    def paragraph(self) -> Paragraph:
        return self.article.paragraphs[self.position]

    @classmethod
    def of(cls, article: Article, position: int, score: float, index: int) -> Passage:
        """A passage of an article in hand (no library needed): its paragraph at ``position``."""
        return cls(score, index, 0, position, (article,))


Stat = tuple[int, int, str]
"""A corpus file as a build sees it: (size, modification time in ns, context), where the context
fingerprints what else the file's article is made of (values cascaded onto it, files it includes)."""


@dataclass(frozen=True)
class Facts:
    """What the manifest keeps of an article (so the parent of a build never unpickles articles)."""

    paragraphs: int
    tags: tuple[str, ...]
    day: int
    """The article's date as a day number (``date.toordinal``), 0 for none."""
    includes: tuple[str, ...]

    @classmethod
    def of(cls, article: Article) -> Facts:
        return cls(len(article.paragraphs), article.tags, article.date.toordinal() if article.date else 0,
                   article.includes)


@dataclass(frozen=True)
class FileResult:
    """One file, parsed and tokenized (or the reason it could not be).

    The article comes back as its compressed pickle, ready for articles.sqlite: compressing is
    done in the worker (on every core), and the parent only stores the bytes.
    """

    facts: Facts | None
    error: CorpusError | None
    tokens: EncodedTokens | None
    lines: Lines | None = None
    recheck: float | None = None
    """When this result goes stale by the clock alone (a future page goes live, a page expires)."""
    frozen: bytes = b""
    """The article, as ``ArticleStore`` stores it."""


def article_key(path: str, size: int, mtime: int, context: str = "") -> str:
    """An article's key in articles.sqlite: a changed file gets a new key, so an index still
    being served never reads the new version of an article it did not index."""
    return f"{path}\0{size}\0{mtime}\0{context}"


@dataclass(frozen=True)
class Manifest:
    """What a build saw and made, as plain lists: every start unpickles and compares it, and
    80k files' worth loads in ~0.05 s this way (objects per file cost ten times that)."""

    built_at: float
    index: str
    """The index folder's name."""
    files: dict[str, Stat]
    """Every corpus file the build saw, indexed or skipped: path → (size, modification time in ns, context)."""
    paths: list[str]
    """Indexed files, in paragraph order."""
    paragraphs: list[int]
    """Paragraphs per indexed file."""
    tags: list[tuple[str, ...]]
    """Tags per indexed file, so that counting tags reads no article."""
    skipped: list[tuple[str, str, int | None, str]]
    """Files not indexed: (path, reason, line, kind)."""
    includes: dict[str, tuple[str, ...]]
    """Files whose text an article includes, by the including file (only those that include any)."""
    rechecks: dict[str, float]
    """Files to read again once this time (epoch seconds) has passed: future pages, expiring pages."""
    days: list[int] = field(default_factory=list)
    """Each indexed file's date as a day number (``date.toordinal``, 0 for none), so that preferring the
    date a question names reads no article."""
    delta: str = ""
    """The delta folder's name, if the index is a base (``index``) and a delta (see ``index.Segmented``)."""
    based: int = 0
    """With a delta: how many of the indexed files (the first ones) are in the base; the rest are in the delta."""
    retired: list[str] = field(default_factory=list)
    """Article keys the build before referred to and this one does not: a process may still be serving
    them, so they are deleted from the store by the next update (with a delta) rather than this one."""

    @property
    def in_base(self) -> int:
        return self.based if self.delta else len(self.paths)

    def key(self, i: int) -> str:
        path = self.paths[i]
        return article_key(path, *self.files[path])

    def keys(self) -> set[str]:
        return {article_key(path, *self.files[path]) for path in self.paths}

    def refers_to(self, key: str) -> bool:
        """Whether this build's articles include the one stored under ``key`` (without listing them all)."""
        path = key.split("\0", 1)[0]
        return path in self.files and article_key(path, *self.files[path]) == key and \
            all(path != skipped[0] for skipped in self.skipped)

    def due(self, now: float) -> set[str]:
        """Files whose time has come: a future page that is now published, a page that has expired."""
        return {path for path, when in self.rechecks.items() if when <= now}

    def unchanged(self, stats: dict[str, Stat], now: float) -> bool:
        return self.files == stats and not self.due(now)

    def save(self, cache: Path) -> None:
        tmp = cache / "manifest.pkl.tmp"
        with tmp.open("wb") as handle:
            pickle.dump((MANIFEST_VERSION, vars(self)), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache / "manifest.pkl")

    @staticmethod
    def load(cache: Path) -> Manifest | None:
        """The last build's manifest; None (and the reason logged) when there is none to trust."""
        path = cache / "manifest.pkl"
        if not path.exists():
            if any(cache.glob("index-*")):  # not a first build: something removed it
                log.warning("rebuilding the index: %s is missing", path)
            return None
        try:
            with path.open("rb") as handle:
                version, fields = pickle.load(handle)
            if version != MANIFEST_VERSION:
                log.info("rebuilding the index: %s was written by another version (%s)", path, version)
                return None
            manifest = Manifest(**fields)
        except Exception as error:  # noqa: BLE001 - an unreadable manifest means: build afresh, and say why
            log.warning("rebuilding the index: %s is unreadable (%s: %s)", path, type(error).__name__, error)
            return None
        if not (len(manifest.paths) == len(manifest.paragraphs) == len(manifest.tags) == len(manifest.days)):
            log.warning("rebuilding the index: %s does not add up (paths, paragraphs, tags and dates differ)", path)
            return None
        return manifest


class ArticleStore:
    """Articles by key in one SQLite file, zlib-compressed pickles (about a third of the text's size)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError as error:
            log.warning("rebuilding the article store: %s is corrupt (%s)", path, error)
            path.unlink(missing_ok=True)  # only a cache: start it afresh
            self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False)
        db.execute("CREATE TABLE IF NOT EXISTS articles (key TEXT PRIMARY KEY, blob BLOB NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS lines (key TEXT PRIMARY KEY, blob BLOB NOT NULL)")
        db.execute("SELECT count(*) FROM articles").fetchone()
        return db

    def get(self, key: str) -> Article:
        with self._lock:
            row = self._db.execute("SELECT blob FROM articles WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise IndexCacheError(f"{self.path}: article {key.split(chr(0))[0]} is missing")
        return _thaw(row[0])

    def get_many(self, keys: Sequence[str]) -> list[Article]:
        with self._lock:
            blobs = dict(self._db.execute("SELECT key, blob FROM articles"))
        return [_thaw(blobs[key]) for key in keys]

    def put_many(self, items: Sequence[tuple[str, bytes, Lines]]) -> None:
        """Articles (as ``freeze`` makes them) with their lines' fingerprints (what finding boilerplate
        counts, without reading them)."""
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO articles VALUES (?, ?)",
                                 ((key, frozen) for key, frozen, _ in items))
            self._db.executemany("INSERT OR REPLACE INTO lines VALUES (?, ?)",
                                 ((key, lines.to_bytes()) for key, _, lines in items))

    def lines(self, keys: Sequence[str]) -> list[Lines]:
        """The lines of these articles, in their order (an article stored without them has none)."""
        with self._lock:
            if len(keys) < 256:  # a few articles' lines: looked up, not the whole table read
                blobs = {key: row[0] for key in keys
                         for row in self._db.execute("SELECT blob FROM lines WHERE key = ?", (key,))}
            else:
                blobs = dict(self._db.execute("SELECT key, blob FROM lines"))
        empty = Lines.from_bytes(b"")
        return [Lines.from_bytes(blobs[key]) if key in blobs else empty for key in keys]

    def holds(self, count: int, last: str) -> bool:
        """A cheap soundness check for every start: enough rows, and the newest article among them."""
        with self._lock:
            rows = self._db.execute("SELECT count(*) FROM articles").fetchone()[0]
            found = self._db.execute("SELECT 1 FROM articles WHERE key = ?", (last,)).fetchone()
        return rows >= count and found is not None

    def keys(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT key FROM articles")}

    def delete(self, keys: Iterable[str]) -> None:
        with self._lock, self._db:
            rows = [(key,) for key in keys]
            self._db.executemany("DELETE FROM articles WHERE key = ?", rows)
            self._db.executemany("DELETE FROM lines WHERE key = ?", rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def freeze(article: Article) -> bytes:
    """zlib's fastest level: a third of the time of its default for 4% more bytes, once per file of a build."""
    return zlib.compress(pickle.dumps(article, protocol=pickle.HIGHEST_PROTOCOL), 1)


def _thaw(blob: bytes) -> Article:
    article = pickle.loads(zlib.decompress(blob))
    if not isinstance(article, Article):
        raise IndexCacheError("articles.sqlite holds something that is not an article")
    return article


class Shelf(Sequence[Article]):
    """The library's articles, read from the store only when asked for.

    Looking at one (a hit) reads one row; iterating (tags, digests) reads them all once and
    keeps them. The same article is the same object each time it is asked for.
    """

    def __init__(self, store: ArticleStore | None, manifest: Manifest) -> None:
        self._store = store
        self._manifest = manifest
        self._all: list[Article] | None = None if manifest.paths else []
        self._recent: OrderedDict[int, Article] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._manifest.paths)

    @overload
    def __getitem__(self, i: int) -> Article: ...

    @overload
    def __getitem__(self, i: slice) -> list[Article]: ...

    def __getitem__(self, i: int | slice) -> Article | list[Article]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if self._all is not None:
            return self._all[i]
        i = range(len(self))[i]
        with self._lock:
            article = self._recent.get(i)
            if article is not None:
                self._recent.move_to_end(i)
                return article
        assert self._store is not None
        article = self._located(self._store.get(self._manifest.key(i)), i)
        with self._lock:
            article = self._recent.setdefault(i, article)
            while len(self._recent) > ARTICLE_CACHE_SIZE:
                self._recent.popitem(last=False)
        return article

    def __iter__(self) -> Iterator[Article]:
        if self._all is None:
            assert self._store is not None
            loaded = self._store.get_many([self._manifest.key(i) for i in range(len(self))])
            with self._lock:
                self._all = [self._recent.get(i) or self._located(a, i) for i, a in enumerate(loaded)]
        return iter(self._all)

    def _located(self, article: Article, i: int) -> Article:
        """Files with the same text elsewhere: the article's path is always its own file."""
        path = self._manifest.paths[i]
        return article if article.path == path else replace(article, path=path)


class Library:
    """Articles, paragraphs and their index; ``Library.open`` builds, updates or loads it."""

    def __init__(self, articles: Sequence[Article], paragraphs_per_article: Iterable[int], index: BM25Index,
                 report: LoadReport, tokenizer: Tokenizer, built_at: float, rebuilt: bool,
                 tags: Iterable[tuple[str, ...]] | None = None, boilerplate: Boilerplate | None = None,
                 days: Sequence[int] | None = None) -> None:
        self.articles = articles
        self._days = days
        self.boilerplate = boilerplate or Boilerplate()
        """Lines its sources repeat (never quoted or summarised), and paragraphs made only of them."""
        self._tags = tags
        self.index = index
        self.report = report
        self.tokenizer = tokenizer
        self.built_at = built_at
        self.rebuilt = rebuilt
        self.next_recheck: float | None = None
        """When (epoch seconds) a page goes live or expires by the clock alone: then this library is stale."""
        self._starts = list(accumulate(paragraphs_per_article, initial=0))

    @property
    def paragraph_count(self) -> int:
        return self._starts[-1]

    @cached_property
    def tag_counts(self) -> Counter[str]:
        """Articles per tag, without reading every article when the manifest knows their tags."""
        tags = self._tags if self._tags is not None else (a.tags for a in self.articles)
        return Counter(tag for article_tags in tags for tag in article_tags)

    def passage(self, hit: Hit) -> Passage:
        """Paragraphs are numbered article after article, in index order."""
        article_no = bisect_right(self._starts, hit.paragraph) - 1
        return Passage(hit.score, hit.paragraph, article_no, hit.paragraph - self._starts[article_no], self.articles)

    @cached_property
    def days(self) -> npt.NDArray[np.int32]:
        """Each article's date as a day number (0: undated), without reading articles when the manifest has them."""
        days = self._days if self._days is not None else [
            a.date.toordinal() if a.date else 0 for a in self.articles]
        return np.asarray(days, dtype=np.int32)

    @cached_property
    def newest(self) -> date | None:
        """The newest article's date: where "yesterday" and "last week" count from."""
        newest = int(self.days.max(initial=0))
        return date.fromordinal(newest) if newest else None

    @cached_property
    def _paragraph_days(self) -> npt.NDArray[np.int32]:
        return np.repeat(self.days, np.diff(np.asarray(self._starts)))

    def paragraph(self, index: int) -> Paragraph:
        """The paragraph with this number in the index (reads its article)."""
        return self.passage(Hit(index, 0.0)).paragraph

    def articles_of(self, first: date, last: date) -> int:
        """How many articles are dated first … last (inclusive)."""
        return int(((self.days >= first.toordinal()) & (self.days <= last.toordinal())).sum())

    def bounds(self, article_no: int) -> tuple[int, int]:
        """The article's paragraphs in the index: [start, end)."""
        return self._starts[article_no], self._starts[article_no + 1]

    def dated_search(self, tokens: Sequence[str], first: date, last: date, k: int) -> list[Passage]:
        """The k best passages of the articles dated first … last (inclusive): a question that names a
        day finds that day's report even when other days' reports outscore it."""
        if not self.articles_of(first, last):
            return []
        days = self._paragraph_days
        within = (days >= first.toordinal()) & (days <= last.toordinal())
        scores = np.where(within, self.index.scores(tokens), 0)
        found = np.flatnonzero(scores)
        found = found[~self.boilerplate.is_muted(found)]
        if len(found) > k:
            found = found[np.argpartition(-scores[found], k)[:k]]
        found = found[np.argsort(-scores[found], kind="stable")]
        return [self.passage(Hit(int(i), float(scores[i]))) for i in found]

    def search(self, tokens: Sequence[str] | Terms, k: int) -> list[Passage]:
        """The k best passages for already-tokenized words (or their terms, looked up once), best first.

        A paragraph made only of boilerplate (a disclaimer, a sign-off) is never one of them.
        """
        muted = self.boilerplate.muted
        hits = self.index.search(tokens, k + min(len(muted), k))
        if len(muted):
            hits = [hit for hit, out in zip(hits, self.boilerplate.is_muted([h.paragraph for h in hits])) if not out]
        return [self.passage(hit) for hit in hits[:k]]

    @classmethod
    def open(cls, settings: Settings, progress: Progress | None = None, tokenizer: Tokenizer | None = None,
             scorer: Scorer | None = None) -> Library:
        """Load the cached library if the corpus is unchanged, else update it with what changed.

        ``scorer`` searches its index (numpy's exhaustive one unless given: see ``bot.search.compiled``).
        """
        tokenizer = tokenizer or Tokenizer()
        report = LoadReport()
        params = BM25Params(settings.k1, settings.b)
        sites = [open_site(folder, settings.hugo_config) for folder in settings.corpus]
        cache = _cache_folder(settings, tokenizer, sites)
        # Listing and stat-ing every file waits on the disk (0.3–0.6 s at 80k files); the last
        # build is loaded meanwhile, on the bet that nothing changed.
        with ThreadPoolExecutor(1) as pool:
            scanning = pool.submit(_scan, sites, report)
            signature = _signature(cache / "manifest.pkl")
            manifest = Manifest.load(cache)
            library = _load(cache, manifest, params, tokenizer, scorer) if manifest is not None else None
            stats = scanning.result()
        now = time.time()
        if library is not None and manifest is not None and \
                manifest.unchanged(_with_includes(stats, manifest.includes), now):
            return _reported(library, report)
        with _exclusive(cache):
            # Another process (the bot, `articlebot index`) may have just made this very update.
            bet = (manifest.index, manifest.delta) if manifest is not None and library is not None else None
            if manifest is None or signature is None or _signature(cache / "manifest.pkl") != signature:
                manifest = Manifest.load(cache)
            if manifest is not None and manifest.unchanged(_with_includes(stats, manifest.includes), now):
                library = _load(cache, manifest, params, tokenizer, scorer)
                if library is not None:
                    return _reported(library, report)
            # The index loaded on the bet is the one to update from, unless another process replaced it since.
            same = library is not None and manifest is not None and bet == (manifest.index, manifest.delta)
            return _update(cache, manifest, stats, params, settings, tokenizer, sites, report, progress, scorer,
                           library.index if same and library else None, library.boilerplate if same and library else None)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What tells a file apart from the one it replaced (a manifest is replaced, never rewritten in place)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _scan(sites: list[Site], report: LoadReport) -> dict[str, Stat]:
    """Every page of every corpus folder with its size, time and cascaded context, sorted by path."""
    stats: dict[str, Stat] = {}
    for site in sites:
        pages = list_pages(site, report)
        if site.is_hugo:
            stats.update((path, (size, mtime, site.cascade_key(path))) for path, size, mtime in pages)
        else:
            stats.update((path, (size, mtime, "")) for path, size, mtime in pages)
    return stats


def _with_includes(stats: dict[str, Stat], includes: dict[str, tuple[str, ...]]) -> dict[str, Stat]:
    """The stats with each including file's context extended by what its included files look like now,
    so that editing a snippet re-reads every page that includes it."""
    if not includes:
        return stats
    stats = dict(stats)
    for path, included in includes.items():
        if path in stats:
            stats[path] = _including(stats[path], included, stats)
    return stats


def _including(stat: Stat, included: Iterable[str], stats: dict[str, Stat]) -> Stat:
    size, mtime, context = stat
    seen = []
    for other in included:
        found = stats.get(other)
        if found is None:
            try:
                info = os.stat(other)
                found = (info.st_size, info.st_mtime_ns, "")
            except OSError:
                found = (-1, -1, "")
        seen.append(f"{other}:{found[0]}:{found[1]}")
    digest = hashlib.sha1("\n".join(seen).encode()).hexdigest()[:12]
    return size, mtime, f"{context}+{digest}"


def _reported(library: Library, listing: LoadReport) -> Library:
    """The library's report with what listing the folders found (missing or empty folders) first."""
    library.report.skipped[:0] = listing.skipped
    library.report.notices[:0] = listing.notices
    return library


@contextmanager
def _exclusive(cache: Path) -> Iterator[None]:
    """One writer per cache folder at a time (an advisory lock; readers never wait)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "update.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cache_folder(settings: Settings, tokenizer: Tokenizer, sites: Sequence[Site] = ()) -> Path:
    """One folder per (corpus folders, their sites' configuration, tokenizing, paragraphs): changing any
    starts afresh (a new ``baseURL`` changes every page's link).

    BM25's k1 and b are not part of it: they only rescale stored term frequencies.
    """
    key = json.dumps([__version__, PARAGRAPHS_VERSION, MANIFEST_VERSION, tokenizer.cache_key,
                      [str(p.resolve()) for p in settings.corpus], settings.max_file_bytes,
                      [site.fingerprint for site in sites]])
    return settings.cache_dir / hashlib.sha1(key.encode()).hexdigest()[:16]


def _load(cache: Path, manifest: Manifest, params: BM25Params, tokenizer: Tokenizer,
          scorer: Scorer | None) -> Library | None:
    """The last build as it was saved; None, with the reason logged, when it cannot be trusted."""
    try:
        index = _open_index(cache, manifest, params, scorer)
        boilerplate = Boilerplate.load(cache / (manifest.delta or manifest.index))
        problem = None
        if index.n_docs != sum(manifest.paragraphs):
            problem = f"the index holds {index.n_docs} paragraphs, the manifest {sum(manifest.paragraphs)}"
        elif not (cache / "articles.sqlite").is_file():
            problem = "articles.sqlite is missing"
        else:
            store = ArticleStore(cache / "articles.sqlite")
            if manifest.paths and not store.holds(len(manifest.paths), manifest.key(-1)):
                problem = "articles.sqlite lacks articles the manifest lists"
    except (IndexCacheError, sqlite3.Error) as error:
        problem = str(error)
    except OSError as error:
        problem = f"the boilerplate lines are unreadable ({error})"
    if problem is not None:
        log.warning("rebuilding the index in %s: %s", cache, problem)
        return None
    return _library(store, manifest, index, boilerplate, LoadReport(), tokenizer, rebuilt=False)


def _open_index(cache: Path, manifest: Manifest, params: BM25Params, scorer: Scorer | None = None) -> BM25Index:
    """The manifest's index: one folder, or a base and its delta."""
    if manifest.delta:
        return load_segmented(cache / manifest.index, cache / manifest.delta, params, scorer)
    return BM25Index.load(cache / manifest.index, params, scorer)


def _library(store: ArticleStore, manifest: Manifest, index: BM25Index, boilerplate: Boilerplate,
             report: LoadReport, tokenizer: Tokenizer, rebuilt: bool) -> Library:
    shelf = Shelf(store, manifest)
    report.articles = shelf
    report.skipped.extend(CorpusError(Path(path), reason, line, kind) for path, reason, line, kind in manifest.skipped)
    library = Library(shelf, manifest.paragraphs, index, report, tokenizer, manifest.built_at, rebuilt,
                      tags=manifest.tags, boilerplate=boilerplate, days=manifest.days)
    library.next_recheck = min(manifest.rechecks.values(), default=None)
    return library


def _update(cache: Path, previous: Manifest | None, stats: dict[str, Stat], params: BM25Params,
            settings: Settings, tokenizer: Tokenizer, sites: list[Site], report: LoadReport,
            progress: Progress | None, scorer: Scorer | None = None, loaded: BM25Index | None = None,
            loaded_boilerplate: Boilerplate | None = None) -> Library:
    """Index the files that changed, and keep the previous index's postings for all others.

    The first build writes one index. After that, the files that changed (and new ones) go to a
    delta and the base's paragraphs of changed or deleted files are marked deleted (see
    ``index.Segmented``): an update costs what the changed files cost, not the whole collection.
    Once the delta outgrows 1/DELTA_SHARE of the base, the two are merged into one new index.
    ``loaded``, ``loaded_boilerplate``: the previous manifest's index and boilerplate, if already loaded.
    """
    cache.mkdir(parents=True, exist_ok=True)
    store = ArticleStore(cache / "articles.sqlite")
    current = _previous_index(cache, previous, params, store, loaded)
    if current is None:
        previous = None
    now = time.time()
    stats_now = _with_includes(stats, previous.includes) if previous else stats
    due = previous.due(now) if previous else set()
    seen = previous.files if previous else {}
    unchanged = {path for path, stat in seen.items() if stats_now.get(path) == stat and path not in due}
    kept = [path in unchanged for path in previous.paths] if previous else []
    in_base = previous.in_base if previous else 0
    old_delta = current.delta if isinstance(current, Segmented) else None
    builder = IndexBuilder(old_delta, list(zip(previous.paragraphs[in_base:], kept[in_base:])) if previous else [])
    # The manifest refers to each path and tag string object once (pickle then writes it once).
    same = {path: path for path in stats}
    paths = [same[p] for p, k in zip(previous.paths, kept) if k] if previous else []
    paragraphs = [n for n, k in zip(previous.paragraphs, kept) if k] if previous else []
    tags = [t for t, k in zip(previous.tags, kept) if k] if previous else []  # shared already, as unpickled
    days = [d for d, k in zip(previous.days, kept) if k] if previous else []
    skipped = [(same[s[0]], *s[1:]) for s in previous.skipped if s[0] in unchanged] if previous else []
    includes = {p: v for p, v in previous.includes.items() if p in unchanged} if previous else {}
    rechecks = {p: t for p, t in previous.rechecks.items() if p in unchanged} if previous else {}
    files = {path: stats_now[path] for path in stats if path in unchanged}
    todo = [path for path in stats if path not in unchanged]
    jobs = [(path, settings.max_file_bytes, _owner(path, sites)) for path in todo]
    results = _process_files(jobs, settings.workers, tokenizer, sites, progress, len(stats) - len(todo))
    fresh: list[tuple[str, bytes, Lines]] = []
    fresh_lines: list[Lines] = []
    fresh_starts: list[int] = []
    total = sum(paragraphs)
    for path, result in zip(todo, results):
        files[path] = stats[path]
        if result.recheck is not None and result.recheck > now:
            rechecks[path] = result.recheck
        facts = result.facts
        if facts is not None and result.tokens is not None and result.lines is not None:
            if facts.includes:
                includes[path] = facts.includes
                files[path] = _including(stats[path], facts.includes, stats)
            builder.add(result.tokens)
            fresh_lines.append(result.lines)
            fresh_starts.append(total)
            total += facts.paragraphs
            paths.append(path)
            paragraphs.append(facts.paragraphs)
            tags.append(_interned(facts.tags))
            days.append(facts.day)
            fresh.append((article_key(path, *files[path]), result.frozen, result.lines))
            if len(fresh) >= 256:
                store.put_many(fresh)
                fresh = []
        elif result.error is not None:
            skipped.append((path, result.error.reason, result.error.line, result.error.kind))
    store.put_many(fresh)
    index = builder.finish(params)
    name, delta, based = f"index-{time.time_ns()}", "", len(paths)
    served: BM25Index | None = None
    if current is not None and previous is not None:
        base = current.base if isinstance(current, Segmented) else current
        gone = [i for i in range(in_base) if not kept[i]]
        deleted = np.union1d(current.deleted if isinstance(current, Segmented) else np.zeros(0, dtype=np.int64),
                             _base_paragraphs(current, previous, gone)).astype(np.int64)
        frequencies = _deleted_frequencies(current, previous, gone, store, tokenizer) \
            if (index.n_docs + len(deleted)) * DELTA_SHARE <= base.n_docs else None
        if frequencies is not None:
            name, delta, based = previous.index, f"delta-{time.time_ns()}", sum(kept[:in_base])
            base_ids = positions_in(base, index.terms)
            save_delta(cache / delta, index, deleted, frequencies, base_ids)
            source = current.source if isinstance(current, Segmented) else current
            served = Segmented(source, index, deleted, frequencies, base_ids, scorer)
        else:
            index = merged(base, deleted, index, params)
    if not delta:
        index.save(cache / name)
    retired = [previous.key(i) for i in range(len(kept)) if not kept[i]] if previous else []
    manifest = Manifest(time.time(), name, files, paths, paragraphs, tags, skipped, includes, rechecks, days,
                        delta, based, retired)
    boilerplate = _previous_boilerplate(cache, previous, loaded_boilerplate)
    if boilerplate is not None and previous is not None:
        old_starts = np.asarray(list(accumulate(previous.paragraphs, initial=0))[:-1], dtype=np.int64)
        stays = np.asarray(kept, dtype=bool)
        now_starts = np.cumsum(np.where(stays, previous.paragraphs, 0)) - np.where(stays, previous.paragraphs, 0)
        gone_keys = [previous.key(i) for i in range(len(kept)) if not kept[i]]
        boilerplate = boilerplate.updated(store.lines(gone_keys), fresh_lines, fresh_starts,
                                          (old_starts, stays, now_starts.astype(np.int64)))
    if boilerplate is None:  # every line counted; those of files read just now are in hand already
        every = fresh_lines if len(fresh_lines) == len(paths) else store.lines([manifest.key(i) for i in range(len(paths))])
        boilerplate = Boilerplate.found(every, list(accumulate(paragraphs, initial=0)))
    boilerplate.save(cache / (delta or name))
    manifest.save(cache)
    _collect_garbage(cache, store, manifest, previous)
    # A merged or new index is served mapped from disk (its arrays leave memory); a delta from memory.
    return _library(store, manifest, served or _open_index(cache, manifest, params, scorer),
                    boilerplate.mapped(cache / (delta or name)), report, tokenizer, rebuilt=True)


def _previous_boilerplate(cache: Path, previous: Manifest | None, loaded: Boilerplate | None) -> Boilerplate | None:
    """The last build's boilerplate, to update rather than count again (None: count again)."""
    if previous is None:
        return None
    if loaded is not None:
        return loaded
    try:
        return Boilerplate.load(cache / (previous.delta or previous.index))
    except (OSError, ValueError):
        return None


def _base_paragraphs(current: BM25Index, previous: Manifest, files: Sequence[int]) -> npt.NDArray[np.int64]:
    """The base's numbers of these files' paragraphs (files by their place in the previous manifest)."""
    starts = list(accumulate(previous.paragraphs, initial=0))
    numbers = np.concatenate([np.arange(starts[i], starts[i + 1], dtype=np.int64) for i in files]) if files \
        else np.zeros(0, dtype=np.int64)
    if isinstance(current, Segmented):
        return current.base_numbers(numbers)
    return numbers


def _deleted_frequencies(current: BM25Index, previous: Manifest, gone: list[int], store: ArticleStore,
                         tokenizer: Tokenizer) -> npt.NDArray[np.int64] | None:
    """Per base term, how many of the base's deleted paragraphs hold it, with these files' (by their
    place in the previous manifest) deleted too.

    A base file that changed or went is read back from the article store as it was indexed and
    tokenized again (a few ms a file): that gives the document frequencies its paragraphs took.
    None where that does not give back what the base holds: then the update merges instead.
    """
    base = current.base if isinstance(current, Segmented) else current
    frequencies = current.deleted_frequencies if isinstance(current, Segmented) \
        else np.zeros(len(base.terms), dtype=np.int64)
    for i in gone:
        try:
            article = store.get(previous.key(i))
        except IndexCacheError:
            return None
        tokens = indexed(tokenizer, article)[1]
        held = frequencies_in(base, tokens)
        if held is None or len(tokens.lengths) != previous.paragraphs[i]:
            return None
        frequencies = frequencies + held
    if (frequencies > np.diff(base.offsets)).any():
        return None
    return frequencies


def _owner(path: str, sites: list[Site]) -> int:
    """Which corpus folder's site a file belongs to (the first that holds it; with one folder, that one:
    asking costs two ``abspath`` a file, 0.3 s before a cold build of 80k files can start)."""
    if len(sites) == 1:
        return 0
    return next((i for i, site in enumerate(sites) if site.holds(path)), 0)


def _interned(tags: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sys.intern(tag) for tag in tags)


def _previous_index(cache: Path, previous: Manifest | None, params: BM25Params,
                    store: ArticleStore, loaded: BM25Index | None = None) -> BM25Index | None:
    """The last build's index, if it and its articles can be trusted to update from."""
    if previous is None:
        return None
    try:
        index = loaded or _open_index(cache, previous, params)
    except IndexCacheError as error:
        log.warning("indexing every file again: %s", error)
        return None
    if index.n_docs != sum(previous.paragraphs):
        log.warning("indexing every file again: the last index does not match its manifest")
        return None
    if previous.paths and not store.holds(len(previous.paths), previous.key(-1)):
        log.warning("indexing every file again: articles of the last build are missing from the store")
        return None
    return index


def _collect_garbage(cache: Path, store: ArticleStore, manifest: Manifest, previous: Manifest | None) -> None:
    """Drop older index folders, and articles that neither this build nor the one before refers to.

    A process still serving the previous index has mapped its files: they stay readable after
    the folder is removed. Its articles are read lazily, so those are kept one round. A whole new
    index lists the store to find them; an update with a delta deletes what the update before
    retired (listing 80k keys would cost a quarter of a second).
    """
    for folder in [*cache.glob("index-*"), *cache.glob("delta-*")]:
        if folder.name not in (manifest.index, manifest.delta):
            shutil.rmtree(folder, ignore_errors=True)
    if manifest.delta and previous is not None:  # an update of a few files: their old versions, one round late
        store.delete(key for key in previous.retired if not manifest.refers_to(key))
        return
    wanted = manifest.keys() | (previous.keys() if previous else set())
    store.delete(store.keys() - wanted)


def paragraph_tokens(tokenizer: Tokenizer, article: Article) -> list[list[str]]:
    """A paragraph is indexed with its heading and its article's title: questions name the topic.

    The reference for ``indexed``, which makes the same tokens as numbers (tests hold them equal):
    each text normalised and tokenized on its own, as a question is.
    """
    title = tokenizer(article.title)
    headings = {h: tokenizer(h) for h in {p.heading for p in article.paragraphs}}
    tokens = []
    for paragraph in article.paragraphs:
        text = paragraph.text
        normalized = tokenizer.normalize(FOLD_APART.join(text[a:b] for a, b in sentence_spans(text)))
        tokens.append([*tokenizer.normalized_tokens(normalized), *headings[paragraph.heading], *title])
    return tokens


FOLD_APART = "\x00"
"""Joins a paragraph's sentences for one normalisation (no cleaned text holds it, no token spans it)."""


VOCABULARY_LIMIT = 1 << 20
"""Terms a worker numbers before it starts a new numbering (~120 MB of strings and dict)."""


class Vocabulary:
    """The terms one worker has spelled to the parent in a build, numbered as it spelled them.

    A file's tokens go to the parent as numbers in this numbering plus the terms the worker had not
    spelled before, so the parent looks each term up about once per worker instead of once per file
    (12 M lookups at 100k paragraphs). Character bigrams are known by their code points (one int),
    so a bigram met before is never spelled as a string again. Past ``limit`` terms the worker
    starts a new numbering, a new ``source`` to the parent, so that its memory stays bounded.
    A file indexed on its own uses a vocabulary of its own: its terms are then all it spells.
    """

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit or VOCABULARY_LIMIT
        self._generation = 0
        self._start()

    def _start(self) -> None:
        self._generation += 1
        self.source = (os.getpid() << 24) | self._generation
        self.words: dict[str, int] = {}
        self.pairs: dict[int, int] = {}
        self.size = 0
        self._spelled: list[str] = []

    def start_file(self) -> None:
        """A new numbering once this one is full; never within a file, whose numbers share one source."""
        if self.size >= self.limit:
            self._start()

    def spelled(self) -> tuple[str, ...]:
        """The terms numbered since the last call, in the order of their numbers."""
        spelled, self._spelled = tuple(self._spelled), []
        return spelled

    def numbered_words(self, words: Sequence[str]) -> npt.NDArray[np.int32]:
        return numbered(self.words, words, self._spell)

    def numbered_pairs(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        """Bigrams given as ``first << 21 | second`` code points (``_bigram_keys``)."""
        return numbered(self.pairs, keys.tolist(), lambda key: self._spell(chr(key >> 21) + chr(key & 0x1FFFFF)))

    def _spell(self, term: str) -> int:
        """Number a term met for the first time, and keep it to send."""
        self._spelled.append(term)
        self.size += 1
        return self.size - 1


def indexed(tokenizer: Tokenizer, article: Article,
            vocabulary: Vocabulary | None = None) -> tuple[Article, EncodedTokens]:
    """The article with each paragraph's sentences normalised (``Paragraph.folded``), and each
    paragraph's tokens (with its heading's and its article's title's) as numbers: what a worker
    sends back for the index.

    The cost of a cold build is here, run once per file on every core, so the work is done
    per file rather than per paragraph or per token where it can be: the title, headings and
    every sentence are normalised in one call (NFKC, case and OpenCC act on each character and
    phrase, never across the separator, so the pieces come back as they would one by one); each
    text's Chinese runs are cut in one segmenter call; character bigrams are taken from the
    file's code points with numpy and numbered by them (only a bigram new to the vocabulary becomes
    a string); the title's and
    headings' tokens are made once and repeated by index. ``paragraph_tokens`` is the
    per-paragraph reference the tests hold this to. With a ``vocabulary`` (a worker's), the tokens
    are numbered in it and only the terms new to it are spelled.
    """
    headings = list(dict.fromkeys(p.heading for p in article.paragraphs))
    spans = [sentence_spans(p.text) for p in article.paragraphs]
    pieces = [article.title, *headings, *(p.text[a:b] for p, found in zip(article.paragraphs, spans)
                                          for a, b in found)]
    folded = _normalized_pieces(tokenizer, pieces)
    texts = folded[:1 + len(headings)]
    sentences = iter(folded[1 + len(headings):])
    paragraphs = []
    for paragraph, found in zip(article.paragraphs, spans):
        mine = tuple(next(sentences) for _ in found)
        paragraphs.append(replace(paragraph, folded=mine))
        texts.append(FOLD_APART.join(mine))
    numbering = vocabulary or Vocabulary()
    numbering.start_file()
    first = numbering.size
    ids, starts = _text_tokens(tokenizer, texts, numbering)
    terms, source = numbering.spelled(), numbering.source if vocabulary is not None else None
    heading_of = {h: 1 + i for i, h in enumerate(headings)}
    parts = []
    for number, paragraph in enumerate(article.paragraphs):  # its own text, its heading, the title
        for text in (1 + len(headings) + number, heading_of[paragraph.heading], 0):
            parts.append(ids[starts[text]:starts[text + 1]])
    sizes = np.diff(starts)
    lengths = np.asarray([sizes[1 + len(headings) + n] + sizes[heading_of[p.heading]] + sizes[0]
                          for n, p in enumerate(article.paragraphs)], dtype=np.int32)
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return (replace(article, paragraphs=tuple(paragraphs)),
            EncodedTokens(terms, flat.astype(np.int32), lengths, source, first if vocabulary is not None else 0))


def _normalized_pieces(tokenizer: Tokenizer, pieces: list[str]) -> list[str]:
    """Each piece in ``normalize``'s form, from one call over them all (one by one if a piece holds
    the separator, or the separators did not come back one for one)."""
    if not any(FOLD_APART in piece for piece in pieces):
        folded = tokenizer.normalize(FOLD_APART.join(pieces)).split(FOLD_APART)
        if len(folded) == len(pieces):
            return folded
    return [tokenizer.normalize(piece) for piece in pieces]


def _text_tokens(tokenizer: Tokenizer, texts: list[str],
                 vocabulary: Vocabulary) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """The tokens of normalised texts as numbers in ``vocabulary``, text after text: (ids, where each
    text's ids start). Words are numbered per file first (a small dict, per token), then each
    distinct one in the vocabulary; bigrams by their distinct code point pairs."""
    positions: dict[str, int] = {}
    word_ids: list[int] = []
    word_counts = np.zeros(len(texts), dtype=np.int64)
    for number, text in enumerate(texts):
        tokens = tokenizer.word_tokens(text)
        word_ids.extend([positions.setdefault(token, len(positions)) for token in tokens])
        word_counts[number] = len(tokens)
    words = vocabulary.numbered_words(tuple(positions))[np.asarray(word_ids, dtype=np.int64)]
    word_text = np.repeat(np.arange(len(texts)), word_counts)
    if tokenizer.bigrams:
        keys, pair_text = _bigram_keys(texts)
        distinct, inverse = np.unique(keys, return_inverse=True)
        words = np.concatenate((words, vocabulary.numbered_pairs(distinct)[inverse.reshape(-1)]))
        word_text = np.concatenate((word_text, pair_text))
    order = np.argsort(word_text, kind="stable")
    starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(word_text, minlength=len(texts)), out=starts[1:])
    return words[order].astype(np.int32), starts


_PAIR_CHARACTERS: list[npt.NDArray[np.bool_]] = []
"""Filled once per process: which code points a character bigram may hold (Chinese, not a stop character)."""


def _bigram_keys(texts: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every character bigram the tokenizer makes of these texts, as (first << 21 | second) code points,
    with the text each comes from: pairs of neighbouring Chinese characters (a run's pairs), neither a
    stop character, the pair not a stop-word."""
    if not _PAIR_CHARACTERS:
        table = np.zeros(0x110000, dtype=bool)
        for low, high in CJK_RANGES:
            table[low:high + 1] = True
        table[[ord(c) for c in STOP_CHARACTERS]] = False
        _PAIR_CHARACTERS.append(table)
    joined = "\n".join(texts)
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    usable = _PAIR_CHARACTERS[0][points]
    first = np.flatnonzero(usable[:-1] & usable[1:])
    keys = (points[first] << 21) | points[first + 1]
    keep = ~np.isin(keys, _STOP_PAIRS)
    starts = np.cumsum([0] + [len(text) + 1 for text in texts[:-1]])
    return keys[keep], np.searchsorted(starts, first[keep], side="right") - 1


_STOP_PAIRS = np.asarray(sorted((ord(w[0]) << 21) | ord(w[1]) for w in STOPWORDS if len(w) == 2), dtype=np.int64)


Job = tuple[str, int, int]
"""(path, size limit in bytes, which site it belongs to)."""


def _process_file(tokenizer: Tokenizer, sites: Sequence[Site], vocabulary: Vocabulary, job: Job) -> FileResult:
    """Read, parse and tokenize one file."""
    path, max_bytes, site = job
    try:
        article = load_article(Path(path), read_text(Path(path), max_bytes), site=sites[site])
    except NotPublished as error:
        return FileResult(None, error, None, recheck=error.recheck)
    except CorpusError as error:
        return FileResult(None, error, None)
    article, tokens = indexed(tokenizer, article, vocabulary)
    return FileResult(Facts.of(article), None, tokens, lines_of(article), article.expires, freeze(article))


_worker_state: tuple[Tokenizer, Sequence[Site], Vocabulary] | None = None
"""The tokenizer, sites and vocabulary of a worker process, set once by its initializer."""
POOL_START = "forkserver"
"""How tokenizing workers start. Never by forking the indexing process itself: it runs other threads
(jieba warming in the background, the bot's event loop), and a child forked while one of them holds a
lock (``cached_property``'s, the logging module's) waits for it forever. A fork server is a fresh
process that runs no other threads; it forks each worker, which then loads its own jieba."""


def _init_worker(tokenizer: Tokenizer, sites: Sequence[Site], limit: int) -> None:
    """Ctrl-C reaches the whole process group: the parent stops the build, workers just end with it."""
    global _worker_state
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_state = (tokenizer, sites, Vocabulary(limit))


def _process_in_worker(job: Job) -> FileResult:
    assert _worker_state is not None, "the pool initializer sets it"
    return _process_file(*_worker_state, job)


def _process_files(jobs: list[Job], workers: int, tokenizer: Tokenizer, sites: Sequence[Site],
                   progress: Progress | None, already: int = 0) -> Iterator[FileResult]:
    """Parse and tokenize files in parallel, yielding results in order as they come."""
    total = already + len(jobs)
    if progress:
        progress(already, total)
    for done, result in enumerate(_map(jobs, workers, tokenizer, sites), start=already + 1):
        if progress:
            progress(done, total)
        yield result


def _map(jobs: list[Job], workers: int, tokenizer: Tokenizer, sites: Sequence[Site]) -> Iterable[FileResult]:
    """Tokenize on every core; small jobs stay in this process (starting workers costs a second)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 64:
        return map(partial(_process_file, tokenizer, sites, Vocabulary()), jobs)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(POOL_START),
                               initializer=_init_worker, initargs=(tokenizer, sites, VOCABULARY_LIMIT))
    chunks = max(1, min(16, len(jobs) // (workers * 8)))
    return _drain(pool, pool.map(_process_in_worker, jobs, chunksize=chunks))


def _drain(pool: ProcessPoolExecutor, results: Iterable[FileResult]) -> Iterable[FileResult]:
    try:
        yield from results
    finally:
        pool.shutdown(cancel_futures=True)
