"""Hugo sites: which files are pages, in which language, at which public URL, and which are not published.

A site owner points ``--corpus`` at a Hugo site (its root, or its ``content/`` folder), and
the bot must see the site as its readers do. So this module reads the site's configuration
(``hugo.toml|yaml|json`` or ``config.*``, or ``config/_default/``) and applies Hugo's own rules,
as Hugo's documentation states them and ``hugo list all`` computes them (the tests build
site trees and compare with Hugo's binary):

- only the content folders are read (never ``archetypes/``, ``layouts/``, ``themes/``, ``static/``);
  languages come from ``languages.<code>.contentDir``, module mounts, a ``content/<code>/`` folder
  per configured language, or a ``name.<code>.md`` file name;
- a leaf bundle (``x/index.md``) is one page and the other Markdown files under it are its
  resources; ``_index.md`` is a section (or the home page);
- drafts, pages published in the future and expired pages are not published (unless the
  config's ``buildDrafts``/``buildFuture``/``buildExpired`` say otherwise), nor are headless
  bundles and pages with ``build.render: never``; front-matter ``cascade`` (from ``_index.md``
  and the config) reaches the pages below it;
- the public URL: ``url`` front matter, else the section's ``permalinks`` pattern, else the
  content path with ``slug`` for the last part; lower-cased and sanitised like Hugo's
  ``MakePath``; ``uglyURLs``; language prefixes; under ``baseURL``.

A folder with no Hugo configuration is a plain folder of articles: every ``*.md`` file is a
page, drafts and future dates are still honoured, and pages have no public URL.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError
from bot.search.metadata import CONFIG_FORMATS, read_data_file, split_front_matter

CONFIG_NAMES = ("hugo", "config")
SITE_FOLDERS = ("archetypes", "layouts", "themes", "static", "assets", "data", "i18n")
"""Folders of a Hugo site root that hold no content: a root holding ``content/`` and one of these is a site."""
DEFAULT_TAXONOMIES = ("tags", "categories")
"""Hugo's taxonomies when the config names none."""
TAG_KEYS = ("tags", "categories", "series", "tag", "category")
"""Front-matter keys always read as tags (besides a site's own taxonomies): Hugo's defaults, the series
themes add, and the singular spellings sites use."""
PUBLISH_DATE_KEYS = ("publishdate", "pubdate", "published", "date")
EXPIRY_DATE_KEYS = ("expirydate", "unpublishdate")
DATE_KEYS = ("date", "publishdate", "pubdate", "published", "lastmod", "modified")
_TOKEN = re.compile(r":(\w+)(\[[^\]]*\])?")
_GO_LAYOUT = {"2006": "%Y", "06": "%y", "01": "%m", "1": "{month}", "02": "%d", "2": "{day}", "January": "%B",
              "Jan": "%b", "Monday": "%A", "Mon": "%a", "002": "%j"}
_URL_SAFE = "/-_.~!$&'()*+,;=:@%"


# --- the site's configuration --------------------------------------------------------------

@dataclass(frozen=True)
class SiteConfig:
    """What Hugo's configuration says about pages, URLs and publishing (the rest is ignored)."""

    base_url: str | None = None
    default_language: str = "en"
    default_language_in_subdir: bool = False
    languages: tuple[str, ...] = ()
    """Configured language codes, lower case (Hugo lower-cases configuration keys)."""
    language_base_urls: tuple[tuple[str, str], ...] = ()
    """Languages served from a host of their own (``languages.<code>.baseURL``)."""
    ugly_urls: bool | tuple[tuple[str, bool], ...] = False
    """True/False, or per section."""
    lower_paths: bool = True
    permalinks: tuple[tuple[tuple[str, str, str], str], ...] = ()
    """((language or "", kind, section), pattern)."""
    taxonomies: tuple[str, ...] = DEFAULT_TAXONOMIES
    build_drafts: bool = False
    build_future: bool = False
    build_expired: bool = False
    cascade: tuple[Mapping[str, Any], ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    content_dir: str = "content"
    language_content_dirs: tuple[tuple[str, str], ...] = ()
    mounts: tuple[tuple[str, str, str], ...] = ()
    """(source folder, target inside the content tree, language or "") from ``module.mounts``."""
    time_zone: str = ""
    """``timeZone``: the zone of dates written without one (UTC when unset or unknown)."""

    @property
    def zone(self) -> tzinfo:
        try:
            return ZoneInfo(self.time_zone) if self.time_zone else timezone.utc
        except (ZoneInfoNotFoundError, ValueError):
            return timezone.utc

    def ugly(self, section: str) -> bool:
        if isinstance(self.ugly_urls, bool):
            return self.ugly_urls
        return dict(self.ugly_urls).get(section, False)

    def pattern(self, language: str, kind: str, section: str) -> str | None:
        table = dict(self.permalinks)
        for lang in (language, ""):
            found = table.get((lang, kind, section))
            if found:
                return found
        return None


def find_config(root: Path) -> list[Path]:
    """The site's configuration files, in the order Hugo merges them (later ones add keys)."""
    for name in CONFIG_NAMES:
        for suffix in CONFIG_FORMATS:
            if (root / f"{name}{suffix}").is_file():
                return [root / f"{name}{suffix}"]
    folder = root / "config" / "_default"
    if folder.is_dir():
        return sorted((p for p in folder.iterdir() if p.suffix in CONFIG_FORMATS and p.is_file()),
                      key=lambda p: (p.stem not in CONFIG_NAMES, p.name))
    return []


def load_config(files: list[Path]) -> SiteConfig:
    """The merged configuration of a site: ``config/_default/params.toml`` is the ``params`` key, and so on."""
    data: dict[str, Any] = {}
    for path in files:
        loaded = _lower_keys(read_data_file(path))
        if path.stem in CONFIG_NAMES:
            data.update(loaded)
        elif path.stem.startswith("module"):
            data.setdefault("module", {}).update(loaded)
        else:
            data[path.stem.lower()] = loaded
    return config_from(data, files[0] if files else None)


def config_from(data: Mapping[str, Any], source: Path | None = None) -> SiteConfig:
    def flag(name: str) -> bool:
        value = data.get(name.lower(), False)
        return value is True or str(value).lower() == "true"

    languages = data.get("languages") if isinstance(data.get("languages"), Mapping) else {}
    assert isinstance(languages, Mapping)
    default = str(data.get("defaultcontentlanguage") or "en").lower()
    permalinks = list(_permalinks("", data.get("permalinks")))
    base_urls = []
    content_dirs = []
    for code, language in languages.items():
        if isinstance(language, Mapping):
            permalinks.extend(_permalinks(str(code), language.get("permalinks")))
            if language.get("baseurl"):
                base_urls.append((str(code), str(language["baseurl"])))
            if language.get("contentdir"):
                content_dirs.append((str(code), str(language["contentdir"])))
    taxonomies = data.get("taxonomies")
    ugly = data.get("uglyurls", False)
    try:
        return SiteConfig(
            base_url=str(data["baseurl"]) if data.get("baseurl") else None,
            default_language=default,
            default_language_in_subdir=flag("defaultContentLanguageInSubdir"),
            languages=tuple(str(code).lower() for code in languages) or (default,),
            language_base_urls=tuple(base_urls),
            ugly_urls=(tuple((str(k), bool(v)) for k, v in ugly.items()) if isinstance(ugly, Mapping)
                       else ugly is True or str(ugly).lower() == "true"),
            lower_paths=not flag("disablePathToLower"),
            permalinks=tuple(permalinks),
            taxonomies=(tuple(str(v) for v in taxonomies.values() if v) if isinstance(taxonomies, Mapping)
                        else DEFAULT_TAXONOMIES),
            build_drafts=flag("buildDrafts"),
            build_future=flag("buildFuture"),
            build_expired=flag("buildExpired"),
            cascade=tuple(_cascade_entries(data.get("cascade"))),
            params=_mapping(data.get("params")),
            content_dir=str(data.get("contentdir") or "content"),
            language_content_dirs=tuple(content_dirs),
            mounts=tuple(_mounts(data.get("module"))),
            time_zone=str(data.get("timezone") or ""),
        )
    except (TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"{source or 'site configuration'}: unexpected value ({error})") from None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _lower_keys(value: Any) -> Any:
    """Hugo's configuration keys are case-insensitive (viper lower-cases them); values keep their case."""
    if isinstance(value, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _permalinks(language: str, table: Any) -> Iterator[tuple[tuple[str, str, str], str]]:
    """Both forms: ``{section: pattern}`` (pages) and ``{page: {…}, section: {…}}``."""
    if not isinstance(table, Mapping):
        return
    for key, value in table.items():
        if isinstance(value, Mapping) and key in ("page", "section", "taxonomy", "term"):
            for section, pattern in value.items():
                yield (language, key, _section_key(section)), str(pattern)
        elif isinstance(value, str):
            yield (language, "page", _section_key(key)), value


def _section_key(section: Any) -> str:
    return str(section).strip("/").lower()


def _cascade_entries(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
    elif isinstance(value, list):
        yield from (entry for entry in value if isinstance(entry, Mapping))


def _mounts(module: Any) -> Iterator[tuple[str, str, str]]:
    if not isinstance(module, Mapping) or not isinstance(module.get("mounts"), list):
        return
    for mount in module["mounts"]:
        if not isinstance(mount, Mapping):
            continue
        source, target = str(mount.get("source", "")), str(mount.get("target", ""))
        if target != "content" and not target.startswith("content/"):
            continue
        language = str(mount.get("lang") or "")
        sites = mount.get("sites")
        if not language and isinstance(sites, Mapping):
            matrix = sites.get("matrix")
            codes = matrix.get("languages") if isinstance(matrix, Mapping) else None
            if isinstance(codes, list) and len(codes) == 1:
                language = str(codes[0])
        yield source, target.removeprefix("content").strip("/"), language.lower()


# --- where files are --------------------------------------------------------------------------

@dataclass(frozen=True)
class ContentRoot:
    """A folder whose Markdown files are pages, mounted at ``target`` of one language's content tree."""

    folder: str
    language: str
    target: str = ""


@dataclass(frozen=True)
class PagePlace:
    """Where a file sits in the site: its language, kind and path in the content tree."""

    language: str
    kind: str
    """"page", "section" or "home"."""
    logical: str
    """Its folder path in the content tree, as Hugo names pages ("docs/concepts/sampling"), no language."""
    name: str
    """The content base name: the file name without language and extension, or the bundle's folder name."""

    @property
    def sections(self) -> list[str]:
        parts = [p for p in self.logical.split("/") if p]
        return parts if self.kind != "page" else parts[:-1]

    @property
    def section(self) -> str:
        parts = [p for p in self.logical.split("/") if p]
        return parts[0] if len(parts) > (1 if self.kind == "page" else 0) else ""


@dataclass(frozen=True)
class Site:
    """One corpus folder: a Hugo site (with its config) or a plain folder of Markdown articles."""

    folder: Path
    root: Path | None = None
    """The site root (where the config is); None for a plain folder."""
    config: SiteConfig | None = None
    contents: tuple[ContentRoot, ...] = ()
    cascades: tuple[tuple[str, str, tuple[Mapping[str, Any], ...]], ...] = ()
    """(language, section folder in the content tree, cascade entries of its ``_index.md``)."""
    sections: frozenset[str] = frozenset()
    """Folders of the content tree below the top that are sections (they hold an ``_index.md``)."""
    listing: tuple[str, ...] = ()
    """The folders to list pages in, when not the content folders themselves (a section given alone)."""

    @property
    def is_hugo(self) -> bool:
        return self.root is not None

    @property
    def multilingual(self) -> bool:
        """Whether the site declares several languages (then a page's language is the site's word for it;
        otherwise it is read from the page, as in a plain folder)."""
        return self.config is not None and len(self.config.languages) > 1

    @property
    def taxonomies(self) -> tuple[str, ...]:
        own = self.config.taxonomies if self.config else ()
        return tuple(dict.fromkeys([*own, *TAG_KEYS]))

    @property
    def params(self) -> Mapping[str, Any]:
        return self.config.params if self.config else {}

    @property
    def fingerprint(self) -> str:
        """Changes whenever the configuration would change any page's language, URL or publishing."""
        if not self.is_hugo:
            return ""
        text = repr((self.config, [(c.folder, c.language, c.target) for c in self.contents]))
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def holds(self, path: str) -> bool:
        return any(_within(path, folder) for folder in self.folders())

    def folders(self) -> list[str]:
        """The folders to list Markdown files in."""
        if self.listing:
            return list(self.listing)
        return [root.folder for root in self.contents] if self.contents else [str(self.folder)]

    def place(self, path: str) -> PagePlace:
        """Where a file is in the site, from its path alone."""
        root = self._root_of(path)
        relative = PurePosixPath(os.path.relpath(path, root.folder).replace(os.sep, "/"))
        if root.target:
            relative = PurePosixPath(root.target) / relative
        stem, language = _split_language(relative.name, self.config.languages if self.config else ())
        language = language or root.language or (self.config.default_language if self.config else "")
        folder = relative.parent.as_posix().strip(".").strip("/")
        if stem == "_index":
            return PagePlace(language, "section" if folder else "home", folder, PurePosixPath(folder).name)
        if stem == "index":
            return PagePlace(language, "page", folder, PurePosixPath(folder).name)
        return PagePlace(language, "page", f"{folder}/{stem}".strip("/"), stem)

    def _root_of(self, path: str) -> ContentRoot:
        best: ContentRoot | None = None
        for root in self.contents:
            if (path == root.folder or path.startswith(root.folder.rstrip(os.sep) + os.sep)) and \
                    (best is None or len(root.folder) > len(best.folder)):
                best = root
        return best or ContentRoot(str(self.folder), "")

    def cascade_for(self, place: PagePlace) -> dict[str, Any]:
        """Front-matter values cascaded onto a page: nearer sections win, the config's come last."""
        merged: dict[str, Any] = {}
        parents = _ancestors(place.logical if place.kind == "page" else place.logical, place.kind)
        by_folder = {(language, folder): entries for language, folder, entries in self.cascades}
        sources: list[tuple[Mapping[str, Any], ...]] = []
        for folder in parents:
            entries = by_folder.get((place.language, folder))
            if entries:
                sources.append(entries)
        if self.config and self.config.cascade:
            sources.append(self.config.cascade)
        for entries in sources:
            for entry in entries:
                if _targets(entry, place):
                    for key, value in entry.items():
                        if key.lower() not in ("_target", "target"):
                            merged.setdefault(key.lower(), value)
        return merged

    def scan(self) -> tuple[list[tuple[str, int, int]], list[tuple[str, str]]]:
        """The site's Markdown pages as (path, size, modification time in ns), and the Markdown files
        that are not pages: (path, the bundle page they belong to).

        One ``scandir`` pass with plain strings: 80k files in ~0.3 s, where Path objects and a
        second stat cost seconds. A README.md describes a folder; it is not an article.
        """
        pages: list[tuple[str, int, int]] = []
        resources: list[tuple[str, str]] = []
        stack: list[tuple[str, str]] = [(folder, "") for folder in reversed(self.folders())]
        while stack:
            folder, bundle = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            names = {entry.name for entry in entries}
            if not bundle and self.is_hugo:
                index = next((n for n in sorted(names) if _is_bundle_index(n)), None)
                bundle = os.path.join(folder, index) if index else ""
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir():
                        stack.append((entry.path, bundle))
                    elif name.endswith(".md") and name.lower() != "readme.md":
                        if bundle and entry.path != bundle:
                            resources.append((entry.path, bundle))
                            continue
                        stat = entry.stat()
                        pages.append((entry.path, stat.st_size, stat.st_mtime_ns))
                except OSError:
                    if name.endswith(".md"):
                        pages.append((entry.path, -1, -1))  # unreadable: loading it reports why
        pages.sort()
        return pages, sorted(resources)

    def is_page(self, path: str) -> bool:
        """Whether a Markdown file is a page, not a resource of a leaf bundle: no folder above it (nor its
        own, unless it is the index) holds a bundle's ``index.md``."""
        top = os.path.abspath(self._root_of(path).folder)
        folder = os.path.abspath(os.path.dirname(path))
        if not _is_bundle_index(os.path.basename(path)) and _holds_index(folder):
            return False
        while folder != top and _within(folder, top):
            folder = os.path.dirname(folder)
            if _holds_index(folder):
                return False
        return True

    def resolve(self, page: str, argument: str) -> str | None:
        """The file an include-style shortcode on ``page`` names (``"exporters/intro.md"``,
        ``/snippets/note``): looked up beside the page, in ``_includes`` folders from the page up
        to the content root, then from each content root; None when no file matches."""
        argument = argument.strip().strip("\"'`")
        if not argument or ".." in PurePosixPath(argument).parts:
            return None
        relative = argument.lstrip("/")
        names = [relative] if relative.endswith(".md") else [f"{relative}.md", f"{relative}/index.md",
                                                               f"{relative}/_index.md", relative]
        roots = sorted(self.contents or [ContentRoot(str(self.folder), "")],
                       key=lambda r: not _within(page, r.folder))
        folders: list[str] = []
        if not argument.startswith("/"):
            here = os.path.dirname(page)
            top = roots[0].folder
            while True:
                folders += [here, os.path.join(here, "_includes")]
                if not _within(here, top) or os.path.abspath(here) == os.path.abspath(top):
                    break
                here = os.path.dirname(here)
        for root in roots:
            folders += [root.folder, os.path.join(root.folder, "_includes")]
        for folder in folders:
            for name in names:
                candidate = os.path.join(folder, name)
                if os.path.isfile(candidate) and os.path.abspath(candidate) != os.path.abspath(page):
                    return candidate
        return None

    def cascade_key(self, path: str) -> str:
        """A short fingerprint of what cascades onto a file: a change re-reads the file."""
        if not self.cascades and not (self.config and self.config.cascade):
            return ""
        cascade = self.cascade_for(self.place(path))
        if not cascade:
            return ""
        return hashlib.sha1(json.dumps(cascade, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _holds_index(folder: str) -> bool:
    try:
        return any(_is_bundle_index(name) for name in os.listdir(folder))
    except OSError:
        return False


def _is_bundle_index(name: str) -> bool:
    """``index.md`` or ``index.<lang>.md``: the page of a leaf bundle."""
    return name == "index.md" or (name.startswith("index.") and name.endswith(".md") and name.count(".") == 2)


def _split_language(name: str, languages: tuple[str, ...]) -> tuple[str, str]:
    """``post.zh.md`` → ("post", "zh") when zh is a site language; else the stem and ""."""
    stem = name[:-3] if name.lower().endswith(".md") else name
    base, dot, code = stem.rpartition(".")
    if dot and code.lower() in languages:
        return base, code.lower()
    return stem, ""


def _ancestors(logical: str, kind: str) -> list[str]:
    """Section folders above a page, nearest first (a section's own cascade does not apply to it)."""
    parts = [p for p in logical.split("/") if p]
    if kind == "page":
        parts = parts[:-1]
    else:
        parts = parts[:-1] if parts else []
    folders = ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return [*folders, ""] if (kind != "home") else []


def _targets(entry: Mapping[str, Any], place: PagePlace) -> bool:
    """Whether a cascade entry's ``target`` (path glob, kind, language) selects the page."""
    target = entry.get("_target") or entry.get("target")
    if not isinstance(target, Mapping):
        return True
    target = {str(k).lower(): v for k, v in target.items()}
    hugo_path = "/" + place.logical.lower() if place.logical else "/"
    if target.get("path") and not glob_match(str(target["path"]), hugo_path):
        return False
    if target.get("kind") and not glob_match(str(target["kind"]), place.kind):
        return False
    language = target.get("lang") or target.get("language")
    if language and not glob_match(str(language), place.language):
        return False
    sites = target.get("sites")
    if isinstance(sites, Mapping) and isinstance(sites.get("matrix"), Mapping):
        codes = sites["matrix"].get("languages")
        if isinstance(codes, list) and place.language not in [str(c).lower() for c in codes]:
            return False
    return True


def glob_match(pattern: str, text: str) -> bool:
    """Hugo's path globs: ``**`` any folders, ``*`` within one, ``?``, ``{a,b}`` alternatives."""
    return re.fullmatch(_glob_regex(pattern), text) is not None


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            depth, j = 1, i + 1
            while j < len(pattern) and depth:
                depth += {"{": 1, "}": -1}.get(pattern[j], 0)
                j += 1
            options = _split_top(pattern[i + 1:j - 1])
            out.append("(?:" + "|".join(_glob_regex(o) for o in options) + ")")
            i = j
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


# --- finding the site ----------------------------------------------------------------------------

def open_site(folder: Path, config_file: Path | None = None) -> Site:
    """The site a corpus folder belongs to: a Hugo site root, a site's content folder, or a plain folder.

    ``config_file`` is a Hugo configuration to use for a folder that has none of its own.
    """
    folder = Path(folder)
    root, files = _site_root(folder)
    if root is None and config_file is not None:
        root, files = folder, [config_file]
    if root is None:
        return Site(folder)
    config = load_config(files) if files else SiteConfig()
    contents = _content_roots(root, config)
    listing: list[str] = []
    if root != folder:  # pointed at the content folder, one language's, or a section inside one
        inside = [c for c in contents if _within(c.folder, str(folder))]
        holding = [c for c in contents if _within(str(folder), c.folder)]
        if inside:
            contents = inside
        else:  # a section of a site: its pages keep their place (and URL) in the whole site
            contents = holding or [ContentRoot(str(folder), config.default_language)]
            listing = [str(folder)]
    site = Site(folder, root, config, tuple(contents), listing=tuple(listing))
    cascades, sections = _section_index(site)
    return replace(site, cascades=tuple(cascades), sections=frozenset(sections))


def _site_root(folder: Path) -> tuple[Path | None, list[Path]]:
    for candidate in (folder, folder.parent, folder.parent.parent):
        files = find_config(candidate)
        if files:
            return candidate, files
    if (folder / "content").is_dir() and any((folder / name).is_dir() for name in SITE_FOLDERS):
        return folder, []
    return None, []


def _within(inner: str, outer: str) -> bool:
    inner, outer = os.path.abspath(inner), os.path.abspath(outer)
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def _content_roots(root: Path, config: SiteConfig) -> list[ContentRoot]:
    """Content folders and their languages: mounts, else per-language contentDir, else content/
    (with a content/<code>/ folder per configured language read as that language's content)."""
    if config.mounts:
        roots = [ContentRoot(str(root / source), language or config.default_language, target)
                 for source, target, language in config.mounts if (root / source).is_dir()]
        return _first_claim(roots)
    if config.language_content_dirs:
        roots = [ContentRoot(str(root / folder), code.lower()) for code, folder in config.language_content_dirs]
        return [r for r in roots if Path(r.folder).is_dir()]
    content = root / config.content_dir
    entries = [p.name for p in content.iterdir() if not p.name.startswith(".")] if content.is_dir() else []
    if len(config.languages) > 1 and entries and all(name.lower() in config.languages for name in entries):
        return [ContentRoot(str(content / name), name.lower()) for name in sorted(entries)]
    return [ContentRoot(str(content), config.default_language)] if content.is_dir() else []


def _first_claim(roots: list[ContentRoot]) -> list[ContentRoot]:
    """A folder mounted twice (another language's fallback copy) is read once, as its first mount."""
    kept: list[ContentRoot] = []
    for root in roots:
        if not any(_within(root.folder, k.folder) for k in kept):
            kept.append(root)
    return kept


def _section_index(site: Site) -> tuple[list[tuple[str, str, tuple[Mapping[str, Any], ...]]], set[str]]:
    """Every ``_index.md``: the folders that are sections, and the ``cascade`` each declares (read up
    front: they decide how the pages below are read and named)."""
    cascades = []
    sections = set()
    for folder in [c.folder for c in site.contents] or site.folders():  # the whole site: cascades come from above
        for dirpath, _dirs, names in os.walk(folder):
            for name in names:
                if not (name == "_index.md" or (name.startswith("_index.") and name.endswith(".md"))):
                    continue
                path = os.path.join(dirpath, name)
                place = site.place(path)
                sections.add(place.logical)
                try:
                    metadata, _ = split_front_matter(Path(path), Path(path).read_text(encoding="utf-8-sig"))
                except Exception:  # noqa: BLE001 - an unreadable section is reported when it is loaded
                    continue
                entries = tuple(_cascade_entries(_lower_keys(metadata.get("cascade"))))
                if entries:
                    cascades.append((place.language, place.logical, entries))
    return cascades, sections


# --- publishing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unpublished:
    """Why a page is not on the public site (it is not indexed), and when that may change."""

    kind: str
    """"draft", "future", "expired", "headless", "unrendered" or "resource"."""
    reason: str
    recheck: float | None = None
    """A time (epoch seconds) after which the answer changes (a future page goes live)."""


def publication(site: Site, metadata: Mapping[str, Any], place: PagePlace,
                now: datetime | None = None) -> Unpublished | None:
    """None if the page is published; else why not (Hugo's rules, with the config's build flags)."""
    now = now or datetime.now(timezone.utc)
    lowered = {str(k).lower(): v for k, v in metadata.items()}
    config = site.config or SiteConfig()
    build = lowered.get("build") or lowered.get("_build")
    if isinstance(build, Mapping):
        render = str(build.get("render", "always")).lower()
        if render in ("never", "false", "link"):
            return Unpublished("unrendered", f"not rendered on the site (build.render: {render})")
    if _truthy(lowered.get("headless")):
        return Unpublished("headless", "headless bundle (headless: true): its text appears only where pages "
                                       "include it")
    if _truthy(lowered.get("draft")) and not config.build_drafts:
        return Unpublished("draft", "draft (draft: true)")
    if not site.is_hugo:
        # A plain folder's dates say when something happened, often in a zone they do not name
        # (a feed's "2025-02-10 16:26"), not when to publish it: only Hugo's rules make them that.
        return None
    published = _moment(first_value(lowered, PUBLISH_DATE_KEYS), config.zone)
    if published is not None and published > now and not config.build_future:
        return Unpublished("future", f"publishes in the future ({published:%Y-%m-%d %H:%M %Z})",
                           published.timestamp())
    expires = _moment(first_value(lowered, EXPIRY_DATE_KEYS), config.zone)
    if expires is not None and expires <= now and not config.build_expired:
        return Unpublished("expired", f"expired ({expires:%Y-%m-%d})")
    return None


def expiry(site: Site, metadata: Mapping[str, Any]) -> float | None:
    """When a published page of a Hugo site expires (epoch seconds), if it does."""
    if not site.is_hugo:
        return None
    lowered = {str(k).lower(): v for k, v in metadata.items()}
    expires = _moment(first_value(lowered, EXPIRY_DATE_KEYS), (site.config or SiteConfig()).zone)
    return expires.timestamp() if expires else None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def first_value(lowered: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = lowered.get(key)
        if value not in (None, ""):
            return value
    return None


def _moment(value: Any, zone: tzinfo = timezone.utc) -> datetime | None:
    """A front-matter date as an aware moment, in the zone it was written in; one written without a
    zone is in the site's ``timeZone`` (UTC unless the config says otherwise, as in Hugo)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return None


# --- public URLs ------------------------------------------------------------------------------

def public_url(site: Site, place: PagePlace, metadata: Mapping[str, Any], title: str) -> str | None:
    """The page's URL on the public site, as Hugo publishes it; None without a ``baseURL``."""
    config = site.config
    if config is None or not config.base_url:
        return None
    lowered = {str(k).lower(): v for k, v in metadata.items()}
    base = dict(config.language_base_urls).get(place.language) or config.base_url
    own_host = place.language in dict(config.language_base_urls)
    url = lowered.get("url")
    if isinstance(url, str) and url.strip():
        path = url.strip()
        if not path.startswith("/"):
            path = _prefix(config, place.language, own_host) + "/" + path
            path = path if path.endswith("/") or "." in path.rsplit("/", 1)[-1] else path + "/"
        return _join(base, path)
    path = _page_path(config, place, lowered, title, site.sections)
    return _join(base, _prefix(config, place.language, own_host) + path)


def _prefix(config: SiteConfig, language: str, own_host: bool) -> str:
    if own_host or (language == config.default_language and not config.default_language_in_subdir):
        return ""
    return "/" + language if language else ""


def _join(base: str, path: str) -> str:
    base = base.rstrip("/")
    return base + quote(path if path.startswith("/") else "/" + path, safe=_URL_SAFE)


def _page_path(config: SiteConfig, place: PagePlace, lowered: Mapping[str, Any], title: str,
               sections: frozenset[str]) -> str:
    slug = str(lowered.get("slug") or "").strip()
    pattern = config.pattern(place.language, place.kind, place.section) if place.kind != "home" else None
    if pattern:
        path = _expand(pattern, place, lowered, title, slug, config.lower_paths, sections, config.zone)
    elif place.kind == "page":
        folder = PurePosixPath(place.logical).parent.as_posix().strip(".")
        path = f"/{folder}/{slug or place.name}/".replace("//", "/")
    else:
        path = f"/{place.logical}/" if place.logical else "/"
    path = make_path(path, config.lower_paths) if not pattern else path
    if config.ugly(place.section):
        if place.kind == "page" and path != "/":
            path = path.rstrip("/") + ".html"
        else:
            path = path.rstrip("/") + "/index.html"
    return re.sub(r"/{2,}", "/", path)


def make_path(path: str, lower: bool = True) -> str:
    """Hugo's ``MakePath``: letters, digits, marks and ``._-~+@#/%xx`` kept, spaces become one hyphen,
    anything else dropped; lower-cased unless the site says ``disablePathToLower``."""
    out: list[str] = []
    hyphen = False
    for i, ch in enumerate(path):
        if _allowed(path, i, ch):
            if hyphen:
                out.append("-")
                hyphen = False
            out.append(ch)
        elif out and (ch == "-" or ch.isspace()):
            hyphen = True
    text = "".join(out)
    return text.lower() if lower else text


def _allowed(text: str, i: int, ch: str) -> bool:
    if ch == " ":
        return False
    if ch.isalpha() or ch.isdigit() or ch in "./\\_#+~-@" or unicodedata.category(ch).startswith("M"):
        return True
    return ch == "%" and bool(re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 1:i + 3]))


def urlize(text: str, lower: bool = True) -> str:
    """A title or slug as one URL path part (Hugo's ``urlize``)."""
    return make_path(text.replace("/", " "), lower)


def _expand(pattern: str, place: PagePlace, lowered: Mapping[str, Any], title: str, slug: str,
            lower: bool = True, known_sections: frozenset[str] = frozenset(), zone: tzinfo = timezone.utc) -> str:
    """A ``permalinks`` pattern with its tokens filled in (Hugo's names and Go time layouts); dates count
    in their own time zone, the calendar day the author wrote."""
    local = _moment(first_value(lowered, DATE_KEYS), zone) or datetime(1, 1, 1, tzinfo=timezone.utc)

    def value(match: re.Match[str]) -> str:
        token, selection = match.group(1), match.group(2)
        parts = place.sections
        # Below the top, a folder is a section only when it holds an _index.md.
        sections = [p for i, p in enumerate(parts) if i == 0 or "/".join(parts[:i + 1]) in known_sections]
        if token in ("sections", "sectionslugs"):
            return "/".join(make_path(s) for s in _slice(sections, selection))  # section paths are lower case
        found = {
            "year": str(local.year), "month": f"{local.month:02d}", "day": f"{local.day:02d}",
            "monthname": make_path(calendar.month_name[local.month], lower),
            "weekday": str((local.weekday() + 1) % 7), "weekdayname": make_path(calendar.day_name[local.weekday()], lower),
            "yearday": str(local.timetuple().tm_yday), "section": make_path(place.section),
            "sectionslug": urlize(place.section), "title": urlize(title, lower),
            "slug": urlize(slug or title, lower),
            "filename": make_path(place.name, lower), "contentbasename": make_path(place.name, lower),
            "slugorfilename": urlize(slug, lower) if slug else make_path(place.name, lower),
            "slugorcontentbasename": urlize(slug, lower) if slug else make_path(place.name, lower),
        }.get(token)
        if found is not None:
            return found
        if token in _GO_LAYOUT:
            layout = _GO_LAYOUT[token]
            return layout.format(month=local.month, day=local.day) if "{" in layout else local.strftime(layout)
        return match.group(0)

    return _TOKEN.sub(value, pattern)


def _slice(items: list[str], selection: str | None) -> list[str]:
    """``[1:]``, ``[:last]``, ``[last]``, ``[1:2]``: Hugo's slices of the section list (never out of range)."""
    if not selection:
        return items
    inner = selection[1:-1].replace("last", str(len(items) - 1))
    if ":" not in inner:
        index = int(inner) if inner.strip().lstrip("-").isdigit() else 0
        return items[index:index + 1]
    start, _, end = inner.partition(":")
    lo = int(start) if start.strip() else 0
    hi = int(end) + 1 if end.strip() and selection[1:-1].split(":")[1].strip() != "last" else (
        len(items) - 1 if end.strip() else len(items))
    return items[lo:hi]
