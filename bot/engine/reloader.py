"""Live corpus updates: new, changed and deleted articles reach the running bot without a restart.

Three things ask for a reload: a change under a corpus folder (watched with ``watchfiles``),
SIGHUP, and an admin's ``/reload``. All of them only *request* one; a single worker thread does
the work, so:

- **One reload at a time.** Requests that arrive while a reload runs are folded into one more
  reload afterwards; a burst of file events (an editor's save, a ``git pull``, an rsync) becomes
  one re-index once the folder has been quiet for ``debounce`` seconds.
- **Never a half-built index.** ``Library.open`` (which re-processes only the changed files) and
  the new ``Answerer`` and ``Summarizer`` are built completely in the background, warmed, and
  only then handed to ``install`` in one call; the Dialogue swaps both in one assignment.
  Questions asked meanwhile are answered from the previous index.
- **One indexer among replicas.** Replicas that share a state database and an index cache each
  watch the corpus; ``exclusive`` (a PostgreSQL advisory lock, set by ``bot.telegram.app``) lets
  one of them re-index a change while the others wait, then open the index it wrote (their
  incremental build finds every file up to date) and install it. The cache folder's own file lock
  does that on one host; the advisory lock also holds across hosts sharing a volume without file locks.
- **A bad file does not block the rest.** A file that cannot be loaded is skipped with its
  reason (logged, and listed in the ``/reload`` reply); the other files' changes land. If the
  whole reload fails (a corpus folder vanished, the disk failed) the previous index stays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from bot.config import Settings
from bot.engine.engine import Engine
from bot.errors import ArticlebotError, CorpusError
from bot.search.articles import Article
from bot.search.library import Library
from bot.search.metadata import CONFIG_FORMATS
from bot.search.site import CONFIG_NAMES

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 1.0
WATCH_TIMEOUT_MS = 200
"""How often the watcher reports in when nothing changed; its first report means it is watching."""
CLOCK_SECONDS = 3600.0
"""The clock looks again at least this often (a reload may have brought a sooner publish time)."""
Install = Callable[[Engine], None]
"""Receives the new, fully built answerer and summarizer (``Dialogue.swap``)."""
Build = Callable[[Settings, Library], Library]
"""Opens the library; ``Library.open`` unless a caller needs to observe or pace the build."""
Added = Callable[[Engine, tuple[Article, ...]], None]
"""Told, after ``install``, the articles a reload added (paths the previous library lacked)."""
Exclusive = Callable[[str], AbstractContextManager[object]]
"""Holds a named lock that one process at a time may hold (``State.exclusive``)."""


def open_library(settings: Settings, previous: Library) -> Library:
    """The default build: the cached, incremental ``Library.open``, with the previous library's
    tokenizer (loaded already) and scorer (compiled already)."""
    return Library.open(settings, progress=None, tokenizer=previous.tokenizer, scorer=previous.index.scorer)


@dataclass(frozen=True)
class ReloadResult:
    """What one reload did: the new corpus size and skipped files, or why nothing changed."""

    articles: int
    paragraphs: int
    skipped: tuple[CorpusError, ...]
    seconds: float
    reason: str
    error: str | None = None
    """Set when the reload failed as a whole; the bot then still answers from the previous index."""
    changed: bool = True
    """False when no file had changed: the index in use was kept (nothing rebuilt, nothing swapped)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        """``n articles, m skipped: path: reason; …`` (the /reload reply and the log line)."""
        if self.error is not None:
            return f"reload failed: {self.error}; still answering from the previous index"
        text = f"{self.articles} articles, {len(self.skipped)} skipped"
        if self.skipped:
            text += ": " + "; ".join(str(error) for error in self.skipped)
        return text


class Reloader:
    """Rebuilds the library in a background thread on request and installs it atomically."""

    def __init__(self, settings: Settings, library: Library, install: Install, *,
                 debounce: float = DEBOUNCE_SECONDS, build: Build = open_library) -> None:
        self.settings = settings
        self.library = library
        """The library last installed (the one the bot answers from)."""
        self.install = install
        self.debounce = debounce
        self.build = build
        self.last: ReloadResult | None = None
        self.reloads = 0
        """How many reloads ran (succeeded or failed); requests that were coalesced do not count."""
        self._cond = threading.Condition()
        self._requested = 0  # number of the latest request
        self._done = 0  # the latest request number a finished reload covered
        self._due = 0.0  # monotonic time the pending reload may start
        self._reasons: list[str] = []
        self._stop = threading.Event()
        self._watching = threading.Event()
        self._threads: list[threading.Thread] = []
        self._added: list[Added] = []
        self.exclusive: Exclusive = lambda name: nullcontext()
        """Held around each build: with replicas sharing a cache, one builds and the rest reuse its work."""

    def when_added(self, listener: Added) -> None:
        """Call ``listener(engine, articles)`` in the reloader's thread after each reload that added
        articles (new paths; an edited article is not new). The articles present at start-up never
        reach it: they were not added by a reload. Followers of a tag learn of new articles this way."""
        self._added.append(listener)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, watch: bool = True, ready_timeout: float = 10) -> Reloader:
        """Start the worker and, with ``watch``, a watcher of the corpus folders.

        Returns once the watcher is watching (or ``ready_timeout`` passed), so a file saved
        right after start-up is not missed.
        """
        self._spawn(self._work, "corpus-reloader")
        self._spawn(self._clock, "corpus-clock")
        if watch:
            self._spawn(self._watch, "corpus-watcher")
            if not self._watching.wait(ready_timeout):
                log.warning("the corpus watcher is not ready after %.0f s; changes may be picked up late",
                            ready_timeout)
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        """Stop watching and working; a reload in progress finishes first (up to ``timeout``)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    # --- requests -------------------------------------------------------------------------

    def request(self, reason: str = "requested", *, immediate: bool = False) -> int:
        """Ask for a reload and return its ticket; cheap, thread-safe, never blocks on the work.

        Without ``immediate`` the reload waits until no request came for ``debounce`` seconds,
        so a burst of file events costs one re-index.
        """
        with self._cond:
            self._requested += 1
            now = time.monotonic()
            self._due = now if immediate else max(self._due, now + self.debounce)
            if reason not in self._reasons:
                self._reasons.append(reason)
            self._cond.notify_all()
            return self._requested

    def wait(self, ticket: int, timeout: float | None = None) -> ReloadResult | None:
        """Block until a reload that started after ``ticket`` was requested has finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._done < ticket:
                remaining = None if deadline is None else deadline - time.monotonic()
                if (remaining is not None and remaining <= 0) or (self._stop.is_set() and not self._threads):
                    return None
                self._cond.wait(remaining if remaining is not None else 1.0)
            return self.last

    def reload(self, reason: str = "/reload", timeout: float | None = None) -> ReloadResult | None:
        """Reload now (no debounce) and return the result; what ``/reload`` runs."""
        return self.wait(self.request(reason, immediate=True), timeout)

    def wait_for_reloads(self, count: int, timeout: float) -> bool:
        """Block until ``count`` reloads have run and none is pending; False on timeout.

        For callers that did not file the request themselves (the watcher did), e.g. a check
        that a saved file has reached the index.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self.reloads >= count and self._done >= self._requested, timeout)

    @property
    def idle(self) -> bool:
        """No reload running or pending."""
        with self._cond:
            return self._done >= self._requested

    # --- the worker -----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stop.is_set() and (self._done >= self._requested
                                                   or time.monotonic() < self._due):
                    pending = self._done < self._requested
                    self._cond.wait(max(0.0, self._due - time.monotonic()) if pending else None)
                if self._stop.is_set():
                    return
                ticket, reasons = self._requested, ", ".join(self._reasons)
                self._reasons.clear()
            result = self._reload_once(reasons)
            with self._cond:
                self.last = result
                self.reloads += 1
                self._done = ticket
                self._cond.notify_all()

    def _reload_once(self, reason: str) -> ReloadResult:
        started = time.perf_counter()
        previous = self.library
        try:
            missing = [str(folder) for folder in self.settings.corpus if not folder.is_dir()]
            if missing:
                raise ArticlebotError(f"corpus folder not found: {', '.join(missing)}")
            with self.exclusive("corpus-index"):
                library = self.build(self.settings, previous)
            if not library.rebuilt and library.built_at == previous.built_at:
                result = ReloadResult(len(previous.articles), previous.paragraph_count,
                                      tuple(previous.report.skipped), time.perf_counter() - started, reason,
                                      changed=False)
                log.info("corpus unchanged (%s): %s", reason, result.summary())
                return result
            engine = Engine.over(library, self.settings).warm()
        except Exception as error:
            result = ReloadResult(len(previous.articles), previous.paragraph_count,
                                  tuple(previous.report.skipped), time.perf_counter() - started, reason,
                                  error=str(error) or type(error).__name__)
            log.error("corpus reload (%s) failed: %s", reason, result.summary(),
                      exc_info=None if isinstance(error, ArticlebotError) else error)
            return result
        self.install(engine)
        self.library = library
        self._tell_added(engine, previous)
        seen = {str(skipped) for skipped in previous.report.skipped}
        for skipped in library.report.skipped:
            if str(skipped) not in seen:
                log.warning("skipped %s", skipped)
        result = ReloadResult(len(library.articles), library.paragraph_count, tuple(library.report.skipped),
                              time.perf_counter() - started, reason)
        log.info("corpus reloaded (%s) in %.2f s: %s", reason, result.seconds, result.summary())
        return result

    def _tell_added(self, engine: Engine, previous: Library) -> None:
        if not self._added:
            return
        known = {article.path for article in previous.articles}
        added = tuple(article for article in engine.library.articles if article.path not in known)
        for listener in self._added if added else ():
            try:
                listener(engine, added)
            except Exception:
                log.exception("a listener for added articles failed; the reload itself landed")

    # --- the clock ------------------------------------------------------------------------

    def _clock(self) -> None:
        """Re-index when a page's publish time (or expiry) comes: no file changes then, so no watcher
        would notice; a page scheduled for 9:00 is answered from 9:00."""
        while not self._stop.is_set():
            when = self.library.next_recheck
            wait = CLOCK_SECONDS if when is None else min(CLOCK_SECONDS, max(0.0, when - time.time()))
            if self._stop.wait(wait):
                return
            when = self.library.next_recheck
            if when is not None and when <= time.time():
                self.wait(self.request("a page's publish or expiry time came", immediate=True), CLOCK_SECONDS)

    # --- the watcher ----------------------------------------------------------------------

    def _watch(self) -> None:
        """Request a reload for every batch of article changes until ``stop``."""
        folders = [str(folder) for folder in self.settings.corpus if folder.is_dir()]
        for folder in self.settings.corpus:
            if not folder.is_dir():
                log.warning("not watching %s: not a folder", folder)
        if not folders:
            self._watching.set()
            return
        log.info("watching %s for article changes", ", ".join(folders))
        try:
            # yield_on_timeout: the first (empty) batch says the watch is in place, see start()
            for changes in watchfiles.watch(*folders, watch_filter=is_article_change, debounce=1600, step=50,
                                            stop_event=self._stop, rust_timeout=WATCH_TIMEOUT_MS,
                                            yield_on_timeout=True, raise_interrupt=False):
                self._watching.set()
                if changes:
                    self.request(f"{len(changes)} file change(s)")
        except Exception:
            log.exception("watching the corpus stopped; SIGHUP or /reload still reload it")
        finally:
            self._watching.set()  # start() need not wait for a watcher that failed


_DEFAULT_FILTER = watchfiles.DefaultFilter()


def is_article_change(change: watchfiles.Change, path: str) -> bool:
    """Markdown files, folders (a folder moved or deleted takes its articles with it), and a Hugo
    site's configuration (a new ``baseURL`` changes every link).

    Everything else under a corpus folder (editor swap files, ``.git``, an index cache kept
    there) is ignored, so the bot's own cache writes never trigger a reload.
    """
    name = Path(path).name
    if name.startswith(".") or not _DEFAULT_FILTER(change, path):
        return False
    stem, _, suffix = name.lower().rpartition(".")
    site_config = stem in CONFIG_NAMES and f".{suffix}" in CONFIG_FORMATS
    return name.lower().endswith(".md") or "." not in name or site_config
