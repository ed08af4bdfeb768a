"""requirements.lock pins every runtime and test dependency, transitively, within pyproject's ranges.

A lock that misses a package (say tornado, pulled in by an extra) silently stops being a lock:
pip then takes whatever is newest on the day of the install.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        assert separator and version.strip(), f"requirements.lock: {line!r} is not pinned with =="
        pins[canonicalize_name(name.strip())] = Version(version.strip())
    return pins


def direct() -> list[Requirement]:
    return [Requirement(r) for r in (*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["test"])]


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution the requirements pull in, read from the installed packages' metadata."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen and not extras:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if dependency.marker is None or any(dependency.marker.evaluate(env) for env in environments):
                todo.append((dependency, frozenset(dependency.extras)))
    return seen


def test_the_lock_pins_each_direct_dependency_within_its_range() -> None:
    pins = locked()
    for requirement in direct():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"requirements.lock lacks {requirement.name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement}"


def test_the_lock_pins_every_transitive_dependency_extras_included() -> None:
    needed = closure(direct())
    assert {"tornado", "aiolimiter", "httpx"} <= needed  # the extras were followed
    missing = sorted(needed - set(locked()))
    assert not missing, f"requirements.lock lacks {missing}; regenerate it (see its header)"
