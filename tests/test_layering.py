"""The architecture, checked: data flows one way and each third-party library has one home.

Imports are read from bot/*.py with ``ast`` (nothing is imported), including imports inside
functions and under ``if TYPE_CHECKING:``, since those are dependencies too.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

BOT = Path(__file__).parents[1] / "bot"

ORDER = ["config", "errors", "metadata", "markup", "site", "articles", "tokens", "kernel", "index", "library", "answers", "summaries", "reloader",
         "evaluation",
         "rouge", "replies", "state", "report", "dialogue", "terminal", "handlers", "logs", "webhook", "app", "cli", "__main__"]
"""The data flow, left to right: a module may import only modules to its left.

rouge (summary quality, next to evaluation), state (the bot's SQLite state) and dialogue (answers →
Telegram-free replies and buttons) were slotted in where their imports put them; reloader (live
corpus updates) builds a library, answerer and summarizer, so it follows summaries; logs (text or JSON
log lines) and webhook (the webhook's HTTP server) serve app and cli; report (what readers asked and
missed, from the state file) is read by dialogue's /stats and by cli's `articlebot report`; kernel
(the compiled search loops) is loaded by index on request.
"""
ANYWHERE = {"config", "errors", "__init__"}
"""Importable from any module: settings, the exception tree, and the package's ``__version__``."""

OWNERS: dict[str, set[str]] = {
    "frontmatter": {"metadata"},
    "yaml": {"metadata"},
    "jieba": {"tokens"},
    "opencc": {"tokens"},
    "numpy": {"kernel", "index"},
    "numba": {"kernel"},
    "tqdm": {"cli"},
    "watchfiles": {"reloader"},
    "tornado": {"webhook"},
}
"""Third-party libraries and the one module allowed to import each."""
TELEGRAM_LAYER = {"handlers", "webhook", "app", "cli"}
"""python-telegram-bot is the one library a layer shares: the callbacks, the webhook server, the application,
the entry point."""


def module_names() -> list[str]:
    return sorted(path.stem for path in BOT.glob("*.py"))


@cache
def imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(bot modules, third-party top-level packages) that ``bot/<module>.py`` imports."""
    tree = ast.parse((BOT / f"{module}.py").read_text(encoding="utf-8"))
    local: set[str] = set()
    external: set[str] = set()

    def add(name: str) -> None:
        top, _, rest = name.partition(".")
        if top == "bot":
            local.add(rest.partition(".")[0] or "__init__")
        elif top not in sys.stdlib_module_names:
            external.add(top)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = "bot" + (f".{node.module}" if node.module else "") if node.level else node.module or ""
            if base == "bot":
                for alias in node.names:
                    local.add(alias.name if (BOT / f"{alias.name}.py").exists() else "__init__")
            else:
                add(base)
    local.discard(module)
    return frozenset(local), frozenset(external)


def test_the_parser_sees_lazy_and_package_level_imports() -> None:
    cli_local, cli_external = imports("cli")
    assert "app" in cli_local
    assert "tqdm" in cli_external
    assert "__init__" in imports("library")[0]


@pytest.mark.parametrize("module", module_names())
def test_every_module_has_a_place_in_the_layer_order(module: str) -> None:
    assert module in ORDER or module == "__init__", (
        f"bot/{module}.py is not in ORDER in tests/test_layering.py: add it there at its place in the data "
        f"flow (after every module it imports, before every module that imports it)")


@pytest.mark.parametrize("module", [m for m in module_names() if m in ORDER])
def test_modules_import_only_earlier_layers(module: str) -> None:
    earlier = set(ORDER[: ORDER.index(module)])
    local, _ = imports(module)
    later = sorted(local - earlier - ANYWHERE)
    assert not later, f"bot/{module}.py imports {later}, which come after it in the data flow {ORDER}"


def test_the_package_init_imports_nothing_of_its_own() -> None:
    assert imports("__init__")[0] == frozenset()


def test_errors_and_config_import_no_other_layer() -> None:
    assert imports("errors")[0] == frozenset()
    assert imports("config")[0] <= {"errors"}


@pytest.mark.parametrize(("module", "forbidden"), [
    ("articles", {"tokens", "index", "library", "answers", "summaries", "replies", "handlers", "app", "cli"}),
    ("tokens", {"articles", "index", "library", "answers", "summaries", "replies", "handlers", "app", "cli"}),
    ("index", {"articles", "tokens", "library", "answers", "summaries", "replies", "handlers", "app", "cli"}),
    ("answers", {"replies", "handlers", "app", "cli"}),
    ("replies", {"handlers", "app", "cli"}),
])
def test_data_flows_one_way(module: str, forbidden: set[str]) -> None:
    local, _ = imports(module)
    assert not local & forbidden, f"bot/{module}.py imports {sorted(local & forbidden)}"


@pytest.mark.parametrize("module", ["articles", "tokens", "index", "library", "answers", "evaluation",
                                    "replies"])
def test_core_modules_never_import_telegram(module: str) -> None:
    assert "telegram" not in imports(module)[1]


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_named_library_is_imported_by_its_owner_only(library: str) -> None:
    importers = {m for m in module_names() if library in imports(m)[1]}
    expected = OWNERS[library]
    assert importers == expected, f"{library} is imported by {sorted(importers)}, expected {sorted(expected)}"


def test_telegram_is_imported_only_by_the_telegram_layer() -> None:
    importers = {m for m in module_names() if "telegram" in imports(m)[1]}
    assert importers <= TELEGRAM_LAYER, f"telegram is imported by {sorted(importers - TELEGRAM_LAYER)}"


def test_every_third_party_library_has_exactly_one_importing_module() -> None:
    """Apart from telegram's layer, only numpy has two homes: the index and its compiled loops."""
    importers: dict[str, set[str]] = {}
    for module in module_names():
        for library in imports(module)[1]:
            importers.setdefault(library, set()).add(module)
    importers.pop("telegram", None)
    if importers.get("numpy") == {"index", "kernel"}:
        importers.pop("numpy")
    shared = {library: sorted(mods) for library, mods in importers.items() if len(mods) > 1}
    assert not shared, f"libraries imported by more than one module: {shared}"
