"""The compiled search as a scorer an index can be handed, and the switch the bot searches through.

``bot.search.kernel`` holds numba loops over plain arrays; this wraps them in the ``Scorer``
interface of ``bot.search.index``. Compiling takes 12–15 s the first time (then ~0.5 s from
numba's cache), so the bot and the terminal chat search through ``CompiledWhenReady``: numpy's
exhaustive scorer answers until the compiled search has loaded in a background thread, then
every index handed that switch, reloaded ones included, uses the compiled one. Nothing here is
a module global: the composition root (``bot.cli``) owns the switch and hands it down.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType

import numpy as np

from bot.search.index import EXHAUSTIVE, BM25Index, Hit, Scorer, Terms

log = logging.getLogger(__name__)


class CompiledSearch:
    """Exact MaxScore in compiled loops: one pass over each posting it reads, and long lists it
    can prove irrelevant never read (``bot.search.kernel``)."""

    def __init__(self, cache_folder: Path | None = None) -> None:
        """Import numba and compile (or load the compiled loops from ``cache_folder``); raises
        ImportError without numba, or whatever numba raises on a CPU it cannot compile for."""
        from bot.search import kernel

        kernel.compile_now(cache_folder)
        self._kernel: ModuleType = kernel

    def top_k(self, index: BM25Index, terms: Terms, k: int) -> tuple[list[Hit], int]:
        kernel = self._kernel
        docs, values, scanned = kernel.top_k(
            index.offsets, index.doc_ids, index.tfs, index.norms, index.scales, index.bounds,
            np.array(terms.ids, dtype=np.int64), np.array(terms.times, dtype=np.int64), k,
            max(kernel.MIN_SCAN, index.n_docs // kernel.SCAN_SHARE), kernel.FLOOR_LOOKUPS, kernel.SLACK,
            index.scratch(), index.scratch("touched", np.int32))
        hits = [Hit(doc, value) for doc, value in zip(docs.tolist(), values.tolist()) if doc >= 0 and value > 0]
        return hits, int(scanned)


class CompiledWhenReady:
    """Searches with numpy's exhaustive scorer until ``load`` has compiled the compiled search, then
    with that: hand one to every index the process serves from (``Library.open(…, scorer=…)``)."""

    def __init__(self) -> None:
        self._compiled: Scorer | None = None

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def load(self, cache_folder: Path | None = None) -> bool:
        """Compile now (in a background thread: it takes seconds); False, with the reason logged,
        where the compiled search can't load (no numba, a CPU numba can't compile for)."""
        try:
            compiled = CompiledSearch(cache_folder)
        except Exception as error:  # noqa: BLE001 - no numba, or no compiler for this CPU: numpy serves
            log.warning("compiled search unavailable, searching with numpy: %s", error)
            return False
        self._compiled = compiled  # one assignment: a search in flight finishes with the scorer it took
        return True

    def top_k(self, index: BM25Index, terms: Terms, k: int) -> tuple[list[Hit], int]:
        return (self._compiled or EXHAUSTIVE).top_k(index, terms, k)
