"""The architecture, checked: packages depend one way, modules within a package too, and each
third-party library has one home.

``bot/search`` finds what to quote (files → articles → tokens → index → answers), ``bot/summaries``
summarizes what search found, ``bot/engine`` builds both over one index and swaps them when the
corpus changes, ``bot/telegram`` says it to readers; the top-level modules are the terminal chat
and the command line. Imports are read with ``ast`` (nothing is imported),
including imports inside functions and under ``if TYPE_CHECKING:``, since those are dependencies too.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

BOT = Path(__file__).parents[1] / "bot"

PACKAGES = {"search": set(), "summaries": {"search"}, "engine": {"search", "summaries"},
            "telegram": {"search", "summaries", "engine"}}
"""Each package and the packages it may import."""
BASE = {"config", "errors", "logs", "__init__"}
"""Top-level modules any module may import: settings, the exception tree, log formatting, ``__version__``."""
ORDER = {
    "search": ["metadata", "markup", "site", "articles", "boilerplate", "tokens", "dates", "spelling", "kernel", "index",
               "compiled", "library", "query", "reading", "weights", "ranking", "answers", "evaluation"],
    "summaries": ["extracts", "topics", "catalog", "rouge"],
    "engine": ["engine", "reloader"],
    "telegram": ["strings", "replies", "database", "state", "report", "dialogue", "handlers", "delivery", "webhook", "app"],
    "": ["config", "errors", "logs", "terminal", "cli", "__main__"],
}
"""Within a package, the data flow left to right: a module imports only modules to its left."""

OWNERS: dict[str, set[str]] = {
    "frontmatter": {"search.metadata"},
    "yaml": {"search.metadata"},
    "jieba": {"search.tokens"},
    "rjieba": {"search.tokens"},
    "opencc": {"search.tokens"},
    "Stemmer": {"search.tokens"},
    "pypinyin": {"search.spelling"},
    "numpy": {"search.boilerplate", "search.spelling", "search.kernel", "search.index", "search.compiled",
              "search.library", "search.ranking"},
    "numba": {"search.kernel"},
    "tqdm": {"cli"},
    "watchfiles": {"engine.reloader"},
    "tornado": {"telegram.webhook"},
    "telegram": {"telegram.handlers", "telegram.delivery", "telegram.webhook", "telegram.app", "cli"},
    "psycopg": {"telegram.database"},
    "psycopg_pool": {"telegram.database"},
}
"""Third-party libraries and the modules allowed to import each (numpy: the index and its compiled loops;
python-telegram-bot: the Telegram layer and the entry point)."""


def module_names() -> list[str]:
    """Every module as a dotted name below ``bot``: "search.index", "cli", "telegram.__init__"."""
    return sorted(".".join(path.relative_to(BOT).with_suffix("").parts) for path in BOT.rglob("*.py"))


def package_of(module: str) -> str:
    return module.rpartition(".")[0]


@cache
def imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(bot modules, third-party top-level packages) that ``bot/<module>`` imports."""
    tree = ast.parse((BOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
    local: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[:-node.level] if node.level <= module.count(".") else []
                base = ".".join(["bot", *parts, *([node.module] if node.module else [])])
            packages = {"bot", *(f"bot.{package}" for package in PACKAGES)}
            names = [f"{base}.{alias.name}" for alias in node.names] if base in packages else [base]
        for name in names:
            top, _, rest = name.partition(".")
            if top == "bot":
                local.add(_module_for(rest))
            elif top not in sys.stdlib_module_names:
                external.add(top)
    local.discard(module)
    return frozenset(local), frozenset(external)


def _module_for(dotted: str) -> str:
    """The module a dotted name below bot refers to ("search.index.BM25Index" → "search.index")."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end])
        if (BOT / f"{candidate}.py").exists():
            return ".".join(parts[:end])
        if (BOT / candidate / "__init__.py").exists():
            return ".".join([*parts[:end], "__init__"])
    return "__init__"


def test_the_parser_sees_lazy_and_package_level_imports() -> None:
    cli_local, cli_external = imports("cli")
    assert "telegram.app" in cli_local
    assert "tqdm" in cli_external
    assert "__init__" in imports("search.library")[0]


@pytest.mark.parametrize("module", module_names())
def test_every_module_has_a_place(module: str) -> None:
    package, _, name = module.rpartition(".")
    assert name == "__init__" or name in ORDER.get(package, []), (
        f"bot/{module.replace('.', '/')}.py has no place in ORDER in tests/test_layering.py: add it in its "
        f"package's list, after every module it imports and before every module that imports it")


@pytest.mark.parametrize("module", [m for m in module_names() if package_of(m) in PACKAGES])
def test_packages_import_only_the_packages_below_them(module: str) -> None:
    allowed = PACKAGES[package_of(module)] | {package_of(module)}
    local, _ = imports(module)
    wrong = sorted(m for m in local if m not in BASE and package_of(m) not in allowed)
    assert not wrong, f"bot/{module} imports {wrong}: {package_of(module)} may import only {sorted(allowed)}"


@pytest.mark.parametrize("module", [m for m in module_names() if not m.endswith("__init__")])
def test_modules_import_only_earlier_ones_of_their_package(module: str) -> None:
    package, _, name = module.rpartition(".")
    order = ORDER[package]
    earlier = set(order[: order.index(name)])
    local, _ = imports(module)
    later = sorted(m for m in local if package_of(m) == package and m.rpartition(".")[2] not in earlier
                   and m not in BASE and not m.endswith("__init__"))
    assert not later, f"bot/{module} imports {later}, which come after it in {package or 'bot'}'s order {order}"


def test_base_modules_import_no_other_layer() -> None:
    assert imports("errors")[0] == frozenset()
    assert imports("config")[0] <= {"errors"}
    assert imports("logs")[0] <= {"errors", "config"}
    assert imports("__init__")[0] == frozenset()


@pytest.mark.parametrize("module", [m for m in module_names() if package_of(m) in ("search", "summaries")])
def test_search_and_summaries_never_import_telegram(module: str) -> None:
    assert "telegram" not in imports(module)[1]


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_named_library_is_imported_by_its_owners_only(library: str) -> None:
    importers = {m for m in module_names() if library in imports(m)[1]}
    assert importers <= OWNERS[library], f"{library} is imported by {sorted(importers - OWNERS[library])}"


def test_every_third_party_library_has_one_home() -> None:
    importers: dict[str, set[str]] = {}
    for module in module_names():
        for library in imports(module)[1]:
            importers.setdefault(library, set()).add(module)
    shared = {library: sorted(mods) for library, mods in importers.items()
              if len(mods) > 1 and not mods <= OWNERS.get(library, set())}
    assert not shared, f"libraries imported by more than one module: {shared}"
