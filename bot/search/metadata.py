"""Front matter and site configuration: YAML, TOML and JSON, the three formats Hugo reads.

The only module that imports python-frontmatter and PyYAML. Hugo sites use all three:
``---`` YAML, ``+++`` TOML and a leading ``{`` JSON object above the body, and the same
formats for ``hugo.toml`` / ``config.yaml`` / ``hugo.json``. A file that cannot be read
raises an error naming the file and the line, so the owner can fix it in one look.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from bot.errors import ConfigError, CorpusError

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML was built with it (10× faster), else the pure-Python one."""
_TOML_LINE = re.compile(r"at line (\d+)")
CONFIG_FORMATS = (".toml", ".yaml", ".yml", ".json")


class TomlHandler(frontmatter.default_handlers.BaseHandler):
    """``+++`` front matter read with the standard library's tomllib (python-frontmatter's own
    TOML handler needs the third-party ``toml`` package)."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str) -> dict[str, Any]:
        return tomllib.loads(fm)


_YAML = frontmatter.YAMLHandler()
_TOML = TomlHandler()


def split_front_matter(path: Path, text: str) -> tuple[dict[str, Any], str]:
    """Front matter as a mapping and the body; an unreadable front matter names the file's line.

    A file without front matter is all body (an empty mapping).
    """
    stripped = text.lstrip("\ufeff")
    if _YAML.detect(stripped):
        head, body = _split(path, _YAML, stripped, "---")
        return _mapping(path, _load_yaml(path, head, first_line=1)), body
    if _TOML.detect(stripped):
        head, body = _split(path, _TOML, stripped, "+++")
        return _mapping(path, _load_toml(path, head, first_line=1)), body
    if stripped.startswith("{"):
        return _split_json(path, stripped)
    return {}, stripped


def _split(path: Path, handler: frontmatter.default_handlers.BaseHandler, text: str,
           fence: str) -> tuple[str, str]:
    try:
        return handler.split(text)
    except ValueError:
        raise CorpusError(path, f"front matter starts with '{fence}' but never ends; add a closing "
                                f"'{fence}' line", 1) from None


def _load_yaml(path: Path, head: str, first_line: int) -> Any:
    try:
        return yaml.load(head, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or "invalid YAML"
        line = mark.line + first_line if mark is not None else None
        raise CorpusError(path, f"front matter is not valid YAML ({problem})", line) from None
    except Exception as error:  # noqa: BLE001 - a value YAML cannot construct (2025-02-30, !!int abc)
        raise CorpusError(path, f"front matter has a value YAML cannot read ({type(error).__name__}: "
                                f"{str(error)[:120]})") from None


def _load_toml(path: Path, head: str, first_line: int) -> dict[str, Any]:
    try:
        return tomllib.loads(head)
    except tomllib.TOMLDecodeError as error:
        found = _TOML_LINE.search(str(error))
        line = int(found.group(1)) + first_line - 1 if found else None
        problem = _TOML_LINE.split(str(error))[0].rstrip(" (")
        raise CorpusError(path, f"front matter is not valid TOML ({problem})", line) from None


def _split_json(path: Path, text: str) -> tuple[dict[str, Any], str]:
    try:
        metadata, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as error:
        raise CorpusError(path, f"front matter is not valid JSON ({error.msg})", error.lineno) from None
    return _mapping(path, metadata), text[end:].lstrip("\r\n")


def _mapping(path: Path, metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise CorpusError(path, "front matter is not a 'key: value' mapping", 2)
    return metadata


def read_data_file(path: Path) -> dict[str, Any]:
    """A TOML, YAML or JSON configuration file as a mapping, or a ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the site configuration ({error})") from None
    try:
        if path.suffix == ".toml":
            data = _load_toml(path, text, first_line=1)
        elif path.suffix == ".json":
            data = json.loads(text) if text.strip() else {}
        else:
            data = _load_yaml(path, text, first_line=1)
    except CorpusError as error:
        raise ConfigError(str(error).replace("front matter", "site configuration")) from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: site configuration is not valid JSON ({error.msg})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: site configuration is not a 'key: value' mapping")
    return data
