"""Files → articles → paragraphs: what each Markdown file says, and what a reader may be shown of it.

A paragraph is the quotable unit, so this is where answer quality starts: ``bot.markup``
turns the body into the text a reader sees (no markup, no code), headings become the
context of the paragraphs under them, fragments too short to answer anything are merged
with their neighbours, and very long blocks are split at sentence ends.

What the front matter says is read here too: title, date, tags, the article's own source
link, its author's summary. In a Hugo site (``bot.site``) a page that is not on the public
site (a draft, a future or expired page, a headless bundle) is not an article, a page's
link is its public URL when it names no source of its own, and include shortcodes bring in
the text they include.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.errors import CorpusError
from bot.search.markup import (
    MAX_INCLUDE_DEPTH,
    Expand,
    Section,
    build_paragraphs,
    clean_block,
    clean_inline,
    expand_shortcodes,
    mostly_chinese,
    sections,
    wiki_targets,
)
from bot.search.metadata import split_front_matter
from bot.search.site import PagePlace, Site, expiry, open_site, public_url, publication

PARAGRAPHS_VERSION = "7"
"""Bump when parsing or paragraph building changes, so that cached articles are rebuilt."""

SOURCE_KEYS = ("url", "link", "source_url", "source", "original", "original_url", "canonical",
               "canonical_url", "permalink", "原文链接", "原文", "链接", "来源链接", "出处")
DATE_KEYS = ("date", "发布日期", "published", "publishdate", "pubdate", "created", "日期", "lastmod")
SUMMARY_KEYS = ("summary", "description", "abstract", "摘要", "tldr")
ABSTRACT_HEADINGS = ("摘要", "summary", "tl;dr", "tldr", "abstract", "内容提要", "提要")
RELATED_HEADINGS = ("关联主题", "相关主题", "related", "related topics", "see also")
INCLUDE_SHORTCODES = ("include", "readfile", "snippet", "embed-md", "content")
"""Shortcodes that insert the text of the file they name."""
LINK_SHORTCODES = ("ref", "relref", "link", "url", "image", "img", "figure", "download")
"""Shortcodes that name a file to link to or show, never to insert."""

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%d %B %Y",
                 "%B %d, %Y", "%a, %d %b %Y %H:%M:%S %z")
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_TRAILING_LINK = re.compile(r"^\s*\[([^\[\]\n]*)\]\((\S+?)\)\s*$")

@dataclass(frozen=True)
class Paragraph:
    """A quotable passage: display text plus the heading it sits under."""

    position: int
    text: str
    heading: str = ""
    folded: tuple[str, ...] = ()
    """Its sentences (``markup.sentence_spans``) in the tokenizer's normal form, made when it is indexed:
    every question that ranks the paragraph weighs its sentences in that form, and NFKC and OpenCC
    cost ~20 µs a paragraph (empty when not indexed yet)."""


@dataclass(frozen=True)
class Article:
    """One Markdown file, reduced to what answers and digests show."""

    path: str
    title: str
    date: datetime | None
    tags: tuple[str, ...]
    source_url: str | None
    """Where a quote links to: the article's own source, else its page on the public site."""
    lang: str
    paragraphs: tuple[Paragraph, ...]
    summary: str | None = None
    """An author-written summary from front matter; ``None`` when it is a truncated lead ("...")."""
    cut_summary: str | None = None
    """The front matter's summary when a feed cut it off ("…"): no summary as it stands, but the
    words a summary may complete from the body."""
    abstract: str | None = None
    """The text of a body section titled 摘要 / Summary / TL;DR, if the article has one."""
    topics: tuple[str, ...] = ()
    """Wiki-link targets of a 关联主题 / Related section (e.g. WeChat exports)."""
    author: str | None = None
    page_url: str | None = None
    """The page's public URL in a Hugo site with a ``baseURL``."""
    includes: tuple[str, ...] = ()
    """Files whose text this article includes (a change to one re-reads the article)."""
    expires: float | None = None
    """When the page leaves the public site (Hugo ``expiryDate``), as epoch seconds."""

    @property
    def date_text(self) -> str:
        """The date as readers expect it: day precision, empty when unknown."""
        return self.date.strftime("%Y-%m-%d") if self.date else ""


class NotPublished(CorpusError):
    """A page that is not on the public site (a draft, a future or expired page…), so not an article."""

    def __init__(self, path: Path | str, reason: str, kind: str, recheck: float | None = None) -> None:
        super().__init__(path, reason, kind=kind)
        self.recheck = recheck
        """When the answer may change by the clock alone (a future page's publish time)."""

    def __reduce__(self) -> tuple[type[NotPublished], tuple[Path, str, str, float | None]]:  # type: ignore[override]
        return (NotPublished, (self.path, self.reason, self.kind, self.recheck))


@dataclass
class LoadReport:
    """What a corpus load produced, and every file it could not use, with the reason."""

    articles: Sequence[Article] = field(default_factory=list)
    skipped: list[CorpusError] = field(default_factory=list)
    notices: list[CorpusError] = field(default_factory=list)


def find_markdown_files(folders: Iterable[Path], report: LoadReport) -> list[Path]:
    """The article files under the folders (each read as its site reads it), in a stable order."""
    found: list[Path] = []
    for folder in folders:
        found.extend(Path(path) for path, _, _ in list_pages(open_site(folder), report))
    return found


def list_pages(site: Site, report: LoadReport) -> list[tuple[str, int, int]]:
    """A site's pages as (path, size, modification time); missing and empty folders and bundle
    resources are reported, never dropped silently."""
    if not site.folder.is_dir():
        reason = "is a file, not a folder" if site.folder.exists() else "not a folder"
        report.skipped.append(CorpusError(site.folder, f"{reason} (check --corpus / ARTICLEBOT_CORPUS)"))
        return []
    pages, resources = site.scan()
    for path, bundle in resources:
        report.skipped.append(CorpusError(path, f"a resource of the page bundle {bundle}, not a page of its "
                                                "own", kind="resource"))
    if not pages:
        report.notices.append(CorpusError(site.folder, "folder holds no *.md files"))
    return pages


def read_text(path: Path, max_bytes: int) -> str:
    """The file's text, or a CorpusError saying why it is not an article."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CorpusError(path, f"file is {size / 1048576:.1f} MB, over the {max_bytes / 1048576:g} MB "
                                    "limit (ARTICLEBOT_MAX_FILE_MB)")
        data = path.read_bytes()
    except OSError as error:
        raise CorpusError(path, f"cannot read file ({error.strerror})") from None
    if b"\x00" in data[:8192]:
        raise CorpusError(path, "binary file, not Markdown text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CorpusError(path, f"not UTF-8 text (byte 0x{data[error.start]:02x}); re-save it as UTF-8",
                          line) from None


def load_article(path: Path, text: str, display_path: str | None = None, site: Site | None = None) -> Article:
    """Parse one article's text; raises CorpusError naming the file and line when it cannot be
    used, or saying why it is not on the public site (``kind`` draft, future, …)."""
    site = site or Site(path.parent)
    metadata, body = split_front_matter(path, text)
    place = site.place(str(path))
    if site.is_hugo:
        metadata = {**site.cascade_for(place), **{str(k).lower(): v for k, v in metadata.items()}}
    unpublished = publication(site, metadata, place)
    if unpublished is not None:
        raise NotPublished(path, unpublished.reason, unpublished.kind, unpublished.recheck)
    body, trailing_url = (body, None) if site.is_hugo else _pop_trailing_link(body)
    included: list[str] = []
    body = expand_shortcodes(body, _expander(site, str(path), metadata, included))
    parts = list(sections(body))
    abstract = "\n\n".join(clean_block(s.block) for s in parts if s.within(ABSTRACT_HEADINGS)) or None
    topics = tuple(t for s in parts if s.within(RELATED_HEADINGS) for t in wiki_targets(s.block))
    paragraphs = [Paragraph(i, text, heading) for i, (heading, text) in enumerate(_paragraphs(parts))]
    if not paragraphs:
        what = "section page" if place.kind != "page" else "article"
        raise CorpusError(path, f"no text in the {what}'s body", kind="empty")
    title = (_text_value(metadata.get("title")) or _first_heading(parts) or _file_title(path, place))
    page_url = public_url(site, place, metadata, _text_value(metadata.get("title"))) if site.is_hugo else None
    return Article(
        path=display_path or str(path),
        title=clean_inline(title),
        date=_first_date(metadata),
        tags=_tags(metadata, site.taxonomies),
        source_url=_source_url(metadata) or trailing_url or page_url,
        lang=place.language if site.multilingual else _lang(metadata, paragraphs),
        paragraphs=tuple(paragraphs),
        summary=_author_summary(metadata),
        cut_summary=_cut_summary(metadata),
        abstract=abstract,
        topics=tuple(dict.fromkeys(topics)),
        author=_text_value(metadata.get("author") or metadata.get("作者")) or None,
        page_url=page_url,
        includes=tuple(dict.fromkeys(included)),
        expires=expiry(site, metadata),
    )


def _paragraphs(parts: list[Section]) -> list[tuple[str, str]]:
    """The quotable (heading, text) paragraphs. An author's summary section and the body are built
    apart, so that no paragraph mixes the two (a summary's last line merged into the body's first)."""
    runs: list[list[Section]] = []
    for part in parts:
        if part.within(RELATED_HEADINGS):
            continue
        if runs and runs[-1][0].within(ABSTRACT_HEADINGS) == part.within(ABSTRACT_HEADINGS):
            runs[-1].append(part)
        else:
            runs.append([part])
    return [paragraph for run in runs
            for paragraph in build_paragraphs((s.section(ABSTRACT_HEADINGS), s.block) for s in run)]


def _file_title(path: Path, place: PagePlace) -> str:
    """A title for a file that gives none: its name, or its folder's for ``index.md`` and ``_index.md``."""
    stem = path.name[:-3] if path.name.endswith(".md") else path.stem
    if stem.split(".")[0] in ("index", "_index"):
        return place.name or path.parent.name or stem
    return stem


# --- include shortcodes ---------------------------------------------------------------------------

def _expander(site: Site, page: str, metadata: Mapping[str, Any], included: list[str]) -> Expand:
    """What a standalone shortcode on this page stands for: an included file's text, a parameter's value.

    Include-style shortcodes (``include``, ``readfile``, ``snippet``…) bring in the file they name;
    any other shortcode naming a file brings it in only when that file is not a published page
    (a headless bundle's text, a ``_includes`` fragment): ``relref "post.md"`` names a page to
    link to, not text to show.
    """

    def expand(name: str, positional: list[str], named: dict[str, str], depth: int) -> str | None:
        lowered = name.lower()
        if lowered in ("param", "params", "site-param") and positional:
            return _param(positional[0], metadata, site.params)
        argument = (positional[0] if positional else "") or named.get("file") or named.get("path") or ""
        if not argument or depth >= MAX_INCLUDE_DEPTH or lowered in LINK_SHORTCODES:
            return None
        target = site.resolve(page, argument)
        if target is None:
            return None
        try:
            metadata_there, body = split_front_matter(Path(target), Path(target).read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, CorpusError):
            return None
        named_include = lowered in INCLUDE_SHORTCODES or any(word in lowered for word in ("include", "snippet"))
        if not named_include and not _hidden(site, target, metadata_there):
            return None
        included.append(target)
        return "\n\n" + expand_shortcodes(body, _expander(site, target, metadata, included), depth + 1) + "\n\n"

    return expand


def _hidden(site: Site, path: str, metadata: Mapping[str, Any]) -> bool:
    """Not a page of its own on the site: a bundle's resource, or a page that is not published."""
    if site.is_hugo and not site.is_page(path):
        return True
    place = site.place(path)
    lowered = {**site.cascade_for(place), **{str(k).lower(): v for k, v in metadata.items()}}
    return publication(site, lowered, place) is not None


def _param(key: str, metadata: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    """A page parameter (front matter, then its ``params``), else the site's ``params``; dotted keys walk maps."""
    for source in (metadata, metadata.get("params") or {}, params):
        value: Any = source
        for part in key.strip("\"'").split("."):
            value = value.get(part, value.get(part.lower())) if isinstance(value, Mapping) else None
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    return None


# --- metadata -------------------------------------------------------------------------

_CONTAINERS = (list, tuple, set, frozenset, dict)


def _text_value(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    # A nested container is no text; str() of one built from YAML aliases can be gigabytes long.
    return "" if value is None or isinstance(value, _CONTAINERS) else str(value).strip()


def _lowered(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in metadata.items()}


def _source_url(metadata: Mapping[str, Any]) -> str | None:
    lowered = _lowered(metadata)
    for key in SOURCE_KEYS:
        value = _text_value(lowered.get(key))
        if _URL.match(value):
            return value
    return None


def _pop_trailing_link(body: str) -> tuple[str, str | None]:
    """Feeds end the body with ``[category](url)``: that is the source, not article text.

    Not in a Hugo site: there a last line that is a link is part of the page ("see the guide"),
    and the page's own URL is the source.
    """
    lines = body.rstrip().split("\n")
    match = _TRAILING_LINK.match(lines[-1]) if lines else None
    if match and _URL.match(match.group(2)):
        return "\n".join(lines[:-1]), match.group(2)
    return body, None


def parse_date(value: Any) -> datetime | None:
    """Dates as YAML and TOML give them (date, datetime) or as strings in the common formats."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = _text_value(value)
    if not text:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=None)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def _first_date(metadata: Mapping[str, Any]) -> datetime | None:
    lowered = _lowered(metadata)
    for key in DATE_KEYS:
        parsed = parse_date(lowered.get(key))
        if parsed:
            return parsed
    return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    if isinstance(value, Iterable):
        return [str(item).strip() for item in value if item is not None and not isinstance(item, _CONTAINERS)]
    return [str(value).strip()]


def _tags(metadata: Mapping[str, Any], taxonomies: Sequence[str]) -> tuple[str, ...]:
    """Every taxonomy's terms (tags first, then categories, series…), once each, ignoring case."""
    lowered = _lowered(metadata)
    seen: dict[str, str] = {}
    for key in taxonomies:
        for tag in _as_list(lowered.get(key.lower())):
            if tag and tag.casefold() not in seen:
                seen[tag.casefold()] = tag
    return tuple(seen.values())


def _lang(metadata: Mapping[str, Any], paragraphs: list[Paragraph]) -> str:
    declared = _text_value(metadata.get("lang") or metadata.get("language"))
    if declared:
        return declared
    sample = " ".join(p.text for p in paragraphs[:5])
    return "zh" if mostly_chinese(sample) else "en"


def is_truncated_lead(text: str) -> bool:
    """Feed generators cut the lead mid-sentence and append an ellipsis; that is no summary."""
    return text.rstrip().endswith(("...", "…", "……"))


def _author_summary(metadata: Mapping[str, Any]) -> str | None:
    lowered = _lowered(metadata)
    for key in SUMMARY_KEYS:
        text = clean_inline(_text_value(lowered.get(key)))
        if text and not is_truncated_lead(text):
            return text
    return None


def _cut_summary(metadata: Mapping[str, Any]) -> str | None:
    """The first summary field the front matter fills, when a feed cut it off."""
    lowered = _lowered(metadata)
    text = next((text for key in SUMMARY_KEYS if (text := clean_inline(_text_value(lowered.get(key))))), "")
    return text if is_truncated_lead(text) else None


def _first_heading(parts: list[Section]) -> str:
    return next((s.heading for s in parts if s.heading), "")
