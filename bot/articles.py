"""Files → articles → paragraphs: the only module that reads Markdown and YAML front matter.

A paragraph is the quotable unit, so this is where answer quality starts: headings
become the context of the paragraphs under them instead of paragraphs of their own,
fragments too short to answer anything are merged with their neighbours, and very long
blocks are split at sentence ends so that a quote stays readable.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from bot.errors import CorpusError

PARAGRAPHS_VERSION = "3"
"""Bump when parsing or paragraph building changes, so that cached articles are rebuilt."""

SOURCE_KEYS = ("url", "link", "source_url", "source", "original", "original_url", "canonical",
               "canonical_url", "permalink", "原文链接", "原文", "链接", "来源链接", "出处")
DATE_KEYS = ("date", "发布日期", "published", "publishdate", "pubdate", "created", "日期", "lastmod")
SUMMARY_KEYS = ("summary", "description", "abstract", "摘要", "tldr")
ABSTRACT_HEADINGS = ("摘要", "summary", "tl;dr", "tldr", "abstract", "内容提要", "提要")
RELATED_HEADINGS = ("关联主题", "相关主题", "related", "related topics", "see also")

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML was built with it (10× faster), else the pure-Python one."""

MIN_PARAGRAPH_WEIGHT = 36
"""Paragraphs lighter than this (CJK characters count 1, Latin words 2) are merged with a neighbour."""
MAX_PARAGRAPH_CHARS = 520
"""Longer blocks are split at sentence ends; merged paragraphs never grow past it."""

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%d %B %Y",
                 "%B %d, %Y", "%a, %d %b %Y %H:%M:%S %z")
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_TRAILING_LINK = re.compile(r"^\s*\[([^\]\n]*)\]\((\S+?)\)\s*$")
_ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT_RULE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_HR = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_TABLE_RULE = re.compile(r"^\s*(?=[^|]*\|)\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINKED_IMAGE = re.compile(r"\[\s*!\[[^\]]*\]\([^)]*\)[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\)")
_WIKI = re.compile(r"\[\[([^\]|]*?)(?:\|([^\]]*))?\]\]")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<!--.*?-->", re.DOTALL)
_HTML_REMNANT = re.compile(r"<[a-zA-Z][^>\n]*$|^[^<\n]*?\"\s*(class|srcset|src|href|style|width|height|alt)=\"")
"""A tag opened and never closed on its line, or the attribute tail of one: converter debris."""
_SHORTCODE = re.compile(r"\{\{[<%].*?[%>]\}\}", re.DOTALL)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<\"'])")
_EMPHASIS = re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1"
                       r"|(?<![A-Za-z0-9*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![A-Za-z0-9*])"
                       r"|(?<![A-Za-z0-9_])_(?=\S)([^_\n]+?)(?<=\S)_(?![A-Za-z0-9_])")
"""Bold, strike and italic markers; single ones next to CJK count too (CJK has no word spaces)."""
_ESCAPED = 0xF0000
"""Escaped characters are parked in a private-use plane while markup is removed, so \\* stays a star."""
_UNESCAPE = re.compile("[\U000F0000-\U000F007F]")
_LIST_MARK = re.compile(r"^\s*(?:[*+-]|\d{1,3}[.)])\s+")
_QUOTE_MARK = re.compile(r"^\s*(?:>\s?)+")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])[”’」』）)]*\n?|(?<=[.!?])[\"')\]]*(?=\s+[A-Z0-9\"“])|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Paragraph:
    """A quotable passage: display text plus the heading it sits under."""

    position: int
    text: str
    heading: str = ""


@dataclass(frozen=True)
class Article:
    """One Markdown file, reduced to what answers and digests show."""

    path: str
    title: str
    date: datetime | None
    tags: tuple[str, ...]
    source_url: str | None
    lang: str
    paragraphs: tuple[Paragraph, ...]
    summary: str | None = None
    """An author-written summary from front matter; ``None`` when it is a truncated lead ("...")."""
    abstract: str | None = None
    """The text of a body section titled 摘要 / Summary / TL;DR, if the article has one."""
    topics: tuple[str, ...] = ()
    """Wiki-link targets of a 关联主题 / Related section (e.g. WeChat exports)."""
    author: str | None = None

    @property
    def date_text(self) -> str:
        """The date as readers expect it: day precision, empty when unknown."""
        return self.date.strftime("%Y-%m-%d") if self.date else ""


@dataclass
class LoadReport:
    """What a corpus load produced, and every file it could not use, with the reason."""

    articles: Sequence[Article] = field(default_factory=list)
    skipped: list[CorpusError] = field(default_factory=list)
    notices: list[CorpusError] = field(default_factory=list)


def find_markdown_files(folders: Iterable[Path], report: LoadReport) -> list[Path]:
    """All ``*.md`` files under the folders, recursively, in a stable order.

    A folder's README.md describes the corpus; it is not an article.
    """
    return [Path(path) for path in scan_markdown_files(folders, report)]


def scan_markdown_files(folders: Iterable[Path], report: LoadReport) -> dict[str, tuple[int, int]]:
    """Like find_markdown_files, as {path: (size, modification time in ns)}, sorted by path.

    What every start compares with the last build, so it is one ``scandir`` pass with plain
    strings: 80k files in ~0.3 s, where Path objects and a second stat cost seconds.
    """
    found: dict[str, tuple[int, int]] = {}
    for folder in folders:
        if not folder.is_dir():
            report.skipped.append(CorpusError(folder, "not a folder (check --corpus / ARTICLEBOT_CORPUS)"))
            continue
        files = sorted(_scan(str(folder)))
        if not files:
            report.notices.append(CorpusError(folder, "folder holds no *.md files"))
        found.update((path, (size, mtime)) for path, size, mtime in files)
    return found


def _scan(folder: str) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    folders = [folder]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir():
                    folders.append(entry.path)
                elif name.endswith(".md") and name.lower() != "readme.md":
                    stat = entry.stat()
                    found.append((entry.path, stat.st_size, stat.st_mtime_ns))
            except OSError:
                if name.endswith(".md"):
                    found.append((entry.path, -1, -1))  # unreadable: loading it reports why
    return found


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


def load_article(path: Path, text: str, display_path: str | None = None) -> Article:
    """Parse one article's text; raises CorpusError naming the file and line when it cannot."""
    metadata, body = split_front_matter(path, text)
    body, trailing_url = _pop_trailing_link(body)
    sections = list(_sections(body))
    abstract = "\n\n".join(clean_block(s.block) for s in sections if s.within(ABSTRACT_HEADINGS)) or None
    topics = tuple(t for s in sections if s.within(RELATED_HEADINGS) for t in _wiki_targets(s.block))
    paragraphs = build_paragraphs((s.section(ABSTRACT_HEADINGS), s.block) for s in sections
                                  if not s.within(RELATED_HEADINGS))
    if not paragraphs:
        raise CorpusError(path, "no text in the article body")
    title = _text_value(metadata.get("title")) or _first_heading(sections) or path.stem
    return Article(
        path=display_path or str(path),
        title=clean_inline(title),
        date=_first_date(metadata),
        tags=_tags(metadata),
        source_url=_source_url(metadata) or trailing_url,
        lang=_lang(metadata, paragraphs),
        paragraphs=tuple(paragraphs),
        summary=_author_summary(metadata),
        abstract=abstract,
        topics=tuple(dict.fromkeys(topics)),
        author=_text_value(metadata.get("author") or metadata.get("作者")) or None,
    )


def split_front_matter(path: Path, text: str) -> tuple[Mapping[str, Any], str]:
    """Front matter as a mapping and the body; YAML errors name the file's line."""
    handler = frontmatter.YAMLHandler()
    stripped = text.lstrip("\ufeff")
    if not handler.detect(stripped):
        return {}, stripped
    try:
        head, body = handler.split(stripped)
    except ValueError:
        raise CorpusError(path, "front matter starts with '---' but never ends; add a closing '---' line",
                          1) from None
    try:
        metadata = handler.load(head, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        raise CorpusError(path, f"front matter is not valid YAML ({problem})", line) from None
    except Exception as error:  # noqa: BLE001 - a value YAML cannot construct (2025-02-30, !!int abc)
        raise CorpusError(path, f"front matter has a value YAML cannot read ({type(error).__name__}: "
                                f"{str(error)[:120]})") from None
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise CorpusError(path, "front matter is not a 'key: value' mapping", 2)
    return metadata, body


# --- metadata -------------------------------------------------------------------------

_CONTAINERS = (list, tuple, set, frozenset, dict)


def _text_value(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    # A nested container is no text; str() of one built from YAML aliases can be gigabytes long.
    return "" if value is None or isinstance(value, _CONTAINERS) else str(value).strip()


def _source_url(metadata: Mapping[str, Any]) -> str | None:
    lowered = {str(k).lower(): v for k, v in metadata.items()}
    for key in SOURCE_KEYS:
        value = _text_value(lowered.get(key))
        if _URL.match(value):
            return value
    return None


def _pop_trailing_link(body: str) -> tuple[str, str | None]:
    """Feeds end the body with ``[category](url)``: that is the source, not article text."""
    lines = body.rstrip().split("\n")
    match = _TRAILING_LINK.match(lines[-1]) if lines else None
    if match and _URL.match(match.group(2)):
        return "\n".join(lines[:-1]), match.group(2)
    return body, None


def parse_date(value: Any) -> datetime | None:
    """Dates as YAML gives them (date, datetime) or as strings in the common formats."""
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
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        return None


def _first_date(metadata: Mapping[str, Any]) -> datetime | None:
    lowered = {str(k).lower(): v for k, v in metadata.items()}
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


def _tags(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for tag in _as_list(metadata.get("tags")) + _as_list(metadata.get("categories")):
        if tag and tag.casefold() not in seen:
            seen[tag.casefold()] = tag
    return tuple(seen.values())


def _lang(metadata: Mapping[str, Any], paragraphs: list[Paragraph]) -> str:
    declared = _text_value(metadata.get("lang") or metadata.get("language"))
    if declared:
        return declared
    sample = " ".join(p.text for p in paragraphs[:5])
    return "zh" if len(_CJK.findall(sample)) * 2 >= len(_LATIN_WORD.findall(sample)) else "en"


def is_truncated_lead(text: str) -> bool:
    """Feed generators cut the lead mid-sentence and append an ellipsis; that is no summary."""
    return text.rstrip().endswith(("...", "…", "……"))


def _author_summary(metadata: Mapping[str, Any]) -> str | None:
    lowered = {str(k).lower(): v for k, v in metadata.items()}
    for key in SUMMARY_KEYS:
        text = clean_inline(_text_value(lowered.get(key)))
        if text and not is_truncated_lead(text):
            return text
    return None


# --- body -----------------------------------------------------------------------------

def _is_heading(heading: str, names: tuple[str, ...]) -> bool:
    return _heading_key(heading) in names


@lru_cache(maxsize=4096)
def _heading_key(heading: str) -> str:
    return clean_inline(heading).strip(" :：").casefold()


def _first_heading(sections: list[_Section]) -> str:
    return next((s.heading for s in sections if s.heading), "")


def _wiki_targets(block: str) -> Iterator[str]:
    for match in _WIKI.finditer(block):
        target = (match.group(2) or match.group(1)).strip()
        target = target.rsplit("/", 1)[-1].strip()
        if target:
            yield target


@dataclass(frozen=True)
class _Section:
    """A blank-line block, the nearest heading above it, and every heading it sits under."""

    heading: str
    outline: tuple[str, ...]
    block: str

    def within(self, names: tuple[str, ...]) -> bool:
        """Under a heading of that name at any depth (### 1) 一句话总结 stays inside ## 摘要)."""
        return any(_is_heading(h, names) for h in self.outline)

    def section(self, names: tuple[str, ...]) -> str:
        """The heading to file the block under: the named section's own (摘要) when inside one."""
        return next((h for h in self.outline if _is_heading(h, names)), self.heading)


def _sections(body: str) -> Iterator[_Section]:
    outline: list[tuple[int, str]] = []
    for block in _blocks(body):
        lines = block.split("\n")
        atx = _ATX_HEADING.match(lines[0])
        found: tuple[int, str] | None = None
        if atx:
            found, lines = (len(atx.group(1)), clean_inline(atx.group(2))), lines[1:]
        elif len(lines) >= 2 and _SETEXT_RULE.match(lines[1]) and lines[0].strip() \
                and not _LIST_MARK.match(lines[0]):
            found, lines = (1 if lines[1].strip().startswith("=") else 2, clean_inline(lines[0])), lines[2:]
        if found:
            while outline and outline[-1][0] >= found[0]:
                outline.pop()
            outline.append(found)
        rest = "\n".join(lines).strip()
        if rest:
            yield _Section(outline[-1][1] if outline else "", tuple(h for _, h in outline), rest)


def _blocks(body: str) -> Iterator[str]:
    """Blank-line blocks, with fenced code kept whole and horizontal rules dropped."""
    body = _SHORTCODE.sub("", body.replace("\r\n", "\n").replace("\r", "\n"))
    current: list[str] = []
    fenced = False
    for line in body.split("\n"):
        if line.strip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced and (not line.strip() or (_HR.match(line) and not current)):
            if current:
                yield "\n".join(current)
            current = []
            continue
        current.append(line)
    if current:
        yield "\n".join(current)


def clean_inline(text: str) -> str:
    """One line of Markdown as plain text: links keep their text, markup goes."""
    text = _LINKED_IMAGE.sub("", text)
    text = _IMAGE.sub("", text)
    text = _WIKI.sub(lambda m: (m.group(2) or m.group(1)).rsplit("/", 1)[-1], text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _ESCAPE.sub(lambda m: chr(_ESCAPED + ord(m.group(1))), text)
    text = _HTML_TAG.sub("", text)
    for _ in range(2):
        text = _EMPHASIS.sub(lambda m: m.group(2) or m.group(3) or m.group(4) or "", text)
    text = _UNESCAPE.sub(lambda m: chr(ord(m.group()) - _ESCAPED), text)
    text = html.unescape(text)
    text = _CONTROL.sub("", text)
    return re.sub(r"[ \t\u3000]+", " ", text).strip()


def clean_block(block: str) -> str:
    """A blank-line block as display text: one cleaned line per Markdown line."""
    lines: list[str] = []
    for raw in block.split("\n"):
        if _TABLE_RULE.match(raw) or _HTML_REMNANT.search(raw):
            continue
        line = _QUOTE_MARK.sub("", raw)
        bullet = bool(_LIST_MARK.match(line))
        line = _LIST_MARK.sub("", line)
        if line.strip().startswith("|") or line.count("|") >= 2:
            line = " · ".join(cell.strip() for cell in line.strip().strip("|").split("|") if cell.strip())
        line = clean_inline(line)
        if line:
            lines.append(f"• {line}" if bullet else line)
    return "\n".join(lines)


def text_weight(text: str) -> int:
    """How much a passage can say: CJK characters count 1, Latin words 2."""
    return len(_CJK.findall(text)) + 2 * len(_LATIN_WORD.findall(text))


def split_sentences(text: str) -> list[str]:
    """Sentences with their closing punctuation, verbatim (joining them gives the text back).

    A line break ends a sentence too: list items and headings carry no full stop.
    """
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end > start:
            _append_sentence(pieces, text[start:end])
            start = end
    if start < len(text):
        _append_sentence(pieces, text[start:])
    return pieces


def _append_sentence(pieces: list[str], piece: str) -> None:
    """Whitespace between sentences stays with the sentence before it, so nothing is lost."""
    if pieces and not piece.strip():
        pieces[-1] += piece
    else:
        pieces.append(piece)


def _split_long(text: str, limit: int) -> list[str]:
    """Cut a long block at sentence ends (or hard, for endless sentences) into pieces ≤ limit."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        while len(sentence) > limit:
            head, sentence = sentence[:limit], sentence[limit:]
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        if current and len(current) + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def build_paragraphs(sections: Iterable[tuple[str, str]]) -> list[Paragraph]:
    """Clean, split and merge blocks into quotable paragraphs, each under its heading."""
    pieces: list[tuple[str, str]] = []
    for heading, block in sections:
        text = clean_block(block)
        if text_weight(text) == 0 and not text.strip():
            continue
        pieces.extend((heading, piece) for piece in _split_long(text, MAX_PARAGRAPH_CHARS))
    merged = _merge_short(pieces)
    return [Paragraph(position=i, text=text, heading=heading) for i, (heading, text) in enumerate(merged)]


def _merge_short(pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Join fragments too light to answer anything with the following (else previous) piece."""
    merged: list[tuple[str, str, int]] = []
    for heading, text in pieces:
        weight = text_weight(text)
        if merged:
            prev_heading, prev_text, prev_weight = merged[-1]
            prev_light = prev_weight < MIN_PARAGRAPH_WEIGHT
            light = weight < MIN_PARAGRAPH_WEIGHT
            fits = len(prev_text) + len(text) + 1 <= MAX_PARAGRAPH_CHARS
            if fits and (prev_light or light):
                # A light opener joins the section it introduces; a light closer the one before.
                keep = heading if prev_light else prev_heading
                merged[-1] = (keep, f"{prev_text}\n{text}", prev_weight + weight)
                continue
        merged.append((heading, text, weight))
    return [(heading, text) for heading, text, _ in merged]
