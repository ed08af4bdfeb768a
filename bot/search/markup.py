"""Markdown (with Hugo's shortcodes) → the text a reader sees on the page, in quotable blocks.

Every quote and summary is cut from what this module returns, so nothing of the source's
syntax may survive it: shortcodes (the inner text of paired content shortcodes stays, an
include is replaced by the text it includes), raw HTML, link and image syntax (links keep
their text), reference-link definitions, footnote markers, emphasis, table pipes, alert
markers, definition-list colons and heading attributes. Code (fenced, indented, ``<pre>``,
scripts, math, diagram shortcodes) is no prose: it is dropped, never quoted, because a quote
of code with its markup-like parts stripped would misquote it.

The body becomes blank-line blocks, each under the headings it sits in; headings are the
context of the blocks under them, not blocks of their own. A list item's indented
continuation stays with its label, as the page shows them together.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

MIN_PARAGRAPH_WEIGHT = 36
"""Paragraphs lighter than this (CJK characters count 1, Latin words 2) are merged with a neighbour."""
MAX_PARAGRAPH_CHARS = 520
"""Longer blocks are split at sentence ends; merged paragraphs never grow past it."""
MAX_INCLUDE_DEPTH = 4
"""Includes inside included text are followed this deep (a file including itself stops there)."""
CODE_SHORTCODES = frozenset({
    "highlight", "code", "mermaid", "math", "katex", "raw", "rawhtml", "html", "chart", "plantuml", "diagram",
    "echarts", "asciinema", "gist", "tweet", "x", "youtube", "vimeo", "instagram", "figure", "svg", "script",
    "flash", "download", "codeblock", "code-toggle", "terminal", "shell", "output", "prism", "comment",
})
"""Paired shortcodes whose inner part is code, markup, an embed or a comment (Hugo's ``comment`` prints
nothing), not prose to show: dropped with it."""

Expand = Callable[[str, list[str], dict[str, str], int], "str | None"]
"""(shortcode name, positional args, named args, depth) → the text it stands for, or None (nothing)."""

_ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT_RULE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_HR = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_RAW_BLOCK = re.compile(r"^\s{0,3}<(script|style|pre|textarea|svg|math|iframe|object|template)\b", re.IGNORECASE)
_OPEN_COMMENT = re.compile(r"<!--(?!.*?-->)")
_MATH_FENCE = re.compile(r"^\s*\$\$\s*$")
_REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[(?!\^)([^\]]+)\]:(?:\s+\S|\s*$)")
_DEFINITION_TARGET = re.compile(r"^\s*(?:<?[a-z][a-z0-9+.-]*:|/|\.{0,2}/|#|<)\S*(?:\s+[\"'(].*)?\s*$", re.IGNORECASE)
"""The URL (and optional title) on the line after a ``[label]:`` whose target was wrapped to the next line."""
_FOOTNOTE_DEFINITION = re.compile(r"^\s{0,3}\[\^[^\]]+\]:\s?")
_ATTRIBUTES_LINE = re.compile(r"^\s*\{\s*[#.:%][^{}]*\}\s*$")
_HEADING_ATTRIBUTES = re.compile(r"\s*\{\s*[#.][^{}]*\}\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[*+-]|\d{1,3}[.)])\s+")
_INDENTED = re.compile(r"^(?: {2,}|\t)")
_CODE_INDENT = re.compile(r"^(?: {4,}|\t)")
_LIST_CODE_INDENT = re.compile(r"^(?: {8,}|\t\t)")
"""Inside a list item, code is indented past the item's own text (about four more columns)."""
_TABLE_RULE = re.compile(r"^\s*(?=[^|]*\|)\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]|!\[[^\]]*\](?![(\[])")
_LINKED_IMAGE = re.compile(r"\[\s*!\[[^\]]*\]\([^)]*\)[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*(?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\[[^\]]*\]")
_FOOTNOTE_MARK = re.compile(r"\[\^[^\]\s]+\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>", re.IGNORECASE)
_WIKI = re.compile(r"\[\[([^\]|]*?)(?:\|([^\]]*))?\]\]")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<!--.*?-->|<\?.*?\?>", re.DOTALL)
_HTML_REMNANT = re.compile(r"<[a-zA-Z][^>\n]*$|^[^<\n]*?\"\s*(class|srcset|src|href|style|width|height|alt)=\"")
"""A tag opened and never closed on its line, or the attribute tail of one: converter debris."""
_CELL_END = re.compile(r"</t[dh]\s*>", re.IGNORECASE)
_MULTILINE_TAG = re.compile(r"</?[a-zA-Z][^<>`]*\n[^<>`]*>")
"""An HTML tag whose attributes run over line breaks (removed before the block is cut into lines)."""
_TEMPLATE = re.compile(r"(`?)\{\{.*?\}\}\1", re.DOTALL)
_STRAY_BRACES = re.compile(r"\{\{+|\}\}+")
"""Go template actions left in the text (``{{ .Title }}``): Hugo's, not the reader's."""
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_ALERT = re.compile(r"^\s*\[![A-Za-z]+\]\s*")
"""``> [!NOTE]``: GitHub-style alerts (Hugo renders them as a styled box, the marker is not shown)."""
_DEFINITION = re.compile(r"^\s{0,3}:\s+")
_TASK_BOX = re.compile(r"^\[[ xX]\]\s+")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<\"'])")
_EMPHASIS = re.compile(r"(\*\*|__|~~)(?=\S)([\s\S]+?)(?<=\S)\1"
                       r"|(?<![A-Za-z0-9*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![A-Za-z0-9*])"
                       r"|(?<![A-Za-z0-9_])_(?=\S)([^_\n]+?)(?<=\S)_(?![A-Za-z0-9_])")
"""Bold, strike and italic markers; single ones next to CJK count too (CJK has no word spaces)."""
_ESCAPED = 0xF0000
"""Escaped characters are parked in a private-use plane while markup is removed, so \\* stays a star."""
_UNESCAPE = re.compile("[\U000F0000-\U000F007F]")
_QUOTE_MARK = re.compile(r"^\s*(?:>\s?)+")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])[”’」』）)]*\n?|(?<=[.!?])[\"')\]]*(?=\s+[A-Z0-9\"“])|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+")

_SHORTCODE_TAG = re.compile(r"\{\{(<|%)(/\*)?\s*(/?)\s*([^\s<>%/*]+(?:/[^\s<>%/*]+)*)(.*?)(\*/)?\s*[%>]\}\}",
                            re.DOTALL)
_ARGUMENT = re.compile(r"""([\w.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\S+)|"((?:[^"\\]|\\.)*)"|`([^`]*)`|(\S+)""")


# --- shortcodes -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tag:
    start: int
    end: int
    name: str
    closing: bool
    self_closing: bool
    escaped: bool
    positional: list[str]
    named: dict[str, str]


def _tags(text: str) -> list[_Tag]:
    tags = []
    for match in _SHORTCODE_TAG.finditer(text):
        _, escaped, closing, name, rest, _ = match.groups()
        rest = rest.strip()
        self_closing = rest.endswith("/")
        positional, named = parse_arguments(rest.rstrip("/"))
        tags.append(_Tag(match.start(), match.end(), name, bool(closing), self_closing, bool(escaped),
                         positional, named))
    return tags


def parse_arguments(text: str) -> tuple[list[str], dict[str, str]]:
    """A shortcode's arguments: ``"quoted"``, `` `raw` ``, ``key="value"`` and bare words."""
    positional: list[str] = []
    named: dict[str, str] = {}
    for key, value, quoted, raw, bare in _ARGUMENT.findall(text):
        if key:
            named[key] = value[1:-1] if value[:1] in "\"`" and len(value) > 1 else value
        else:
            positional.append(quoted or raw or bare)
    return positional, named


def expand_shortcodes(text: str, expand: Expand | None = None, depth: int = 0) -> str:
    """Shortcodes replaced by what a reader sees of them.

    A paired shortcode keeps its inner text (``{{% alert %}}Mind this.{{% /alert %}}``), except
    code-like ones (CODE_SHORTCODES), dropped whole; a standalone one becomes what ``expand``
    returns for it (an include's text, a parameter's value) or nothing; escaped ones
    (``{{</* x */>}}``, examples in documentation) are code and go.
    """
    if "{{" not in text:
        return text
    tags = _tags(text)
    out: list[str] = []
    position = 0
    i = 0
    while i < len(tags):
        tag = tags[i]
        out.append(text[position:tag.start])
        position = tag.end
        i += 1
        if tag.closing or tag.escaped:
            continue
        close = None if tag.self_closing else _closing(tags, i, tag.name)
        if close is not None:
            inner = text[tag.end:tags[close].start]
            if tag.name.lower() not in CODE_SHORTCODES:
                out.append(expand_shortcodes(inner, expand, depth))
            position = tags[close].end
            i = close + 1
            continue
        replacement = expand(tag.name, tag.positional, tag.named, depth) if expand else None
        if replacement:
            out.append(replacement)
    out.append(text[position:])
    return _STRAY_BRACES.sub("", _TEMPLATE.sub("", "".join(out)))


def _closing(tags: list[_Tag], start: int, name: str) -> int | None:
    """The index of the tag closing ``name`` (same-name tags nest), if there is one."""
    depth = 0
    for j in range(start, len(tags)):
        tag = tags[j]
        if tag.name != name or tag.escaped:
            continue
        if tag.closing:
            if depth == 0:
                return j
            depth -= 1
        elif not tag.self_closing:
            depth += 1
    return None


# --- blocks and sections ------------------------------------------------------------------

def blocks(body: str) -> list[str]:
    """Blank-line blocks of prose, in order, with everything that is not prose left out.

    Fenced and indented code, HTML script/style/pre blocks, comments, display math,
    reference-link definitions, attribute lines and horizontal rules go; a footnote's text
    stays (as its own block, without its marker); an indented block after a list item is
    that item's continuation, joined to it; ``[label]`` links to a defined reference keep
    their text.
    """
    reader = _BlockReader()
    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        reader.feed(line)
    reader.flush()
    labels = reader.labels
    if not labels:
        return reader.found
    pattern = re.compile(r"(?<![\]!])\[(" + "|".join(map(re.escape, sorted(labels, key=len, reverse=True)))
                         + r")\](?![(\[:])", re.IGNORECASE)
    return [pattern.sub(lambda m: m.group(1), block) for block in reader.found]


class _BlockReader:
    """The line-by-line state behind ``blocks``: inside what (code, a comment…) each line falls."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.labels: set[str] = set()
        self.current: list[str] = []
        self.closer: re.Pattern[str] | None = None
        """While set, lines are skipped up to and including one this matches (a fence, ``</pre>``, ``-->``)."""
        self.indented_code = False
        self.after_blank = True
        self.in_list = False
        self.definition_open = False
        """The last line was ``[label]:`` with its URL still to come on this one."""

    def flush(self) -> None:
        if self.current:
            self.found.append("\n".join(self.current))
            self.in_list = any(_LIST_ITEM.match(line) for line in self.current)
        self.current = []

    def feed(self, line: str) -> None:
        if self.definition_open:
            self.definition_open = False
            if _DEFINITION_TARGET.match(line):
                return
        if self.closer is not None:
            if self.closer.search(_QUOTE_MARK.sub("", line)):
                self.closer = None
            return
        if self.indented_code:
            if not line.strip() or _CODE_INDENT.match(line):
                return
            self.indented_code = False
        if not line.strip():
            self.flush()
            self.after_blank = True
            return
        if self._skipped(line):
            return
        footnote = _FOOTNOTE_DEFINITION.match(line)
        if footnote:
            self.flush()
            line = line[footnote.end():]
        elif self.after_blank and not self.current and self.in_list and _INDENTED.match(line) and self.found:
            if _LIST_CODE_INDENT.match(line):
                self.indented_code = True
                return
            if not _ATX_HEADING.match(line.strip()):
                self.current = self.found.pop().split("\n")  # a list item's continuation paragraph
            else:
                line = line.strip()
        self.current.append(line)
        self.after_blank = False

    def _skipped(self, line: str) -> bool:
        """Whether the line opens (or is) something that is not prose, entering its state if so."""
        fence = _FENCE.match(_QUOTE_MARK.sub("", line))
        if fence:
            self.flush()
            marker = fence.group(1)
            self.closer = re.compile(rf"^\s*{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            return True
        raw = _RAW_BLOCK.match(line)
        if raw:
            self.flush()
            end = re.compile(rf"</{raw.group(1)}\s*>", re.IGNORECASE)
            if not end.search(line):
                self.closer = end
            return True
        if _OPEN_COMMENT.search(line):
            before = line[:line.index("<!--")]
            if before.strip():
                self.current.append(before)
            self.flush()
            self.closer = re.compile("-->")
            return True
        if _MATH_FENCE.match(line):
            self.flush()
            self.closer = _MATH_FENCE
            return True
        if self.after_blank and not self.current and _CODE_INDENT.match(line) and not self.in_list:
            self.indented_code = True
            return True
        reference = _REFERENCE_DEFINITION.match(line)
        if reference:
            self.labels.add(reference.group(1))
            self.definition_open = not line.split("]:", 1)[1].strip()
            return True
        return bool(_ATTRIBUTES_LINE.match(line) or (_HR.match(line) and not self.current))


@dataclass(frozen=True)
class Section:
    """A blank-line block, the nearest heading above it, and every heading it sits under."""

    heading: str
    outline: tuple[str, ...]
    block: str

    def within(self, names: tuple[str, ...]) -> bool:
        """Under a heading of that name at any depth (### 1) 一句话总结 stays inside ## 摘要)."""
        return any(is_heading(h, names) for h in self.outline)

    def section(self, names: tuple[str, ...]) -> str:
        """The heading to file the block under: the named section's own (摘要) when inside one."""
        return next((h for h in self.outline if is_heading(h, names)), self.heading)


def is_heading(heading: str, names: tuple[str, ...]) -> bool:
    return _heading_key(heading) in names


@lru_cache(maxsize=4096)
def _heading_key(heading: str) -> str:
    return clean_inline(heading).strip(" :：").casefold()


def sections(body: str) -> Iterator[Section]:
    """The body's prose blocks, each with the headings it sits under (an ATX heading may also
    interrupt a block: it then starts a new one)."""
    outline: list[tuple[int, str]] = []
    for block in blocks(body):
        for piece in _at_headings(block.split("\n")):
            lines = piece
            atx = _ATX_HEADING.match(lines[0])
            found: tuple[int, str] | None = None
            if atx:
                found, lines = (len(atx.group(1)), heading_text(atx.group(2))), lines[1:]
            elif len(lines) >= 2 and _SETEXT_RULE.match(lines[1]) and lines[0].strip() \
                    and not _LIST_ITEM.match(lines[0]):
                found, lines = (1 if lines[1].strip().startswith("=") else 2, heading_text(lines[0])), lines[2:]
            if found:
                while outline and outline[-1][0] >= found[0]:
                    outline.pop()
                outline.append(found)
            rest = "\n".join(lines).strip()
            if rest:
                yield Section(outline[-1][1] if outline else "", tuple(h for _, h in outline), rest)


def _at_headings(lines: list[str]) -> Iterator[list[str]]:
    """A block's lines cut before each ATX heading line after the first."""
    start = 0
    for i in range(1, len(lines)):
        if _ATX_HEADING.match(lines[i]):
            yield lines[start:i]
            start = i
    yield lines[start:]


def heading_text(text: str) -> str:
    """A heading as shown: without ``{#id .class}`` attributes or markup."""
    return clean_inline(_HEADING_ATTRIBUTES.sub("", text))


# --- cleaning -------------------------------------------------------------------------------

def clean_inline(text: str) -> str:
    """One line of Markdown as plain text: links keep their text, markup goes.

    Each rule runs only if the text holds a character every match of it needs (most lines of prose
    hold none): a cold build cleans every line of every file, and a regex pass over a line it cannot
    change costs as much as one that changes it.
    """
    if "`" in text:
        text = _INLINE_CODE.sub(lambda m: _park(m.group(2).strip()), text)
    if "![" in text:
        text = _LINKED_IMAGE.sub("", text)
        text = _IMAGE.sub("", text)
    if "[[" in text:
        text = _WIKI.sub(lambda m: (m.group(2) or m.group(1)).rsplit("/", 1)[-1], text)
    if "\\" in text:
        text = _ESCAPE.sub(lambda m: chr(_ESCAPED + ord(m.group(1))), text)
    if "](" in text:
        text = _LINK.sub(lambda m: m.group(1), text)
    if "[^" in text:
        text = _FOOTNOTE_MARK.sub("", text)
    if "][" in text:
        text = _REFERENCE_LINK.sub(lambda m: m.group(1), text)
    if "<" in text:
        text = _AUTOLINK.sub(lambda m: m.group(1), text)
        text = _HTML_TAG.sub("", text)
    for _ in range(2):
        if "*" in text or "_" in text or "~" in text:
            text = _EMPHASIS.sub(lambda m: m.group(2) or m.group(3) or m.group(4) or "", text)
    if text and max(text) >= "\U000F0000":
        text = _UNESCAPE.sub(lambda m: chr(ord(m.group()) - _ESCAPED), text)
    text = html.unescape(text)
    text = _CONTROL.sub("", text)
    return _SPACES.sub(" ", text).strip()


_SPACES = re.compile(r"[ \t\u3000]+")


def _park(code: str) -> str:
    """Inline code is shown as written: its characters are escaped, so no markup rule touches them."""
    return "".join(chr(_ESCAPED + ord(c)) if ord(c) < 0x80 and c in "\\`*_{}[]()#+-.!|>~<\"'" else c for c in code)


def clean_block(block: str) -> str:
    """A blank-line block as display text: its lines kept, markup gone.

    Line marks (quotes, list bullets, table pipes, alert and definition markers) are taken off
    line by line; inline markup is removed from the block as a whole, since a link or an
    emphasis may run over a line break.
    """
    lines: list[str] = []
    block = _MULTILINE_TAG.sub("", _CELL_END.sub(" · ", block))
    for raw in block.split("\n"):
        line = raw.strip() if is_prose_line(raw) else marked_line(raw)  # most lines are prose
        if line is not None:
            lines.append(line)
    cleaned = (line.strip(" ·") for line in clean_inline("\n".join(lines)).split("\n"))
    return "\n".join(line.replace(_BULLET, "• ", 1) if line.startswith(_BULLET) else line
                     for line in cleaned if line.strip(_BULLET + " "))


def marked_line(raw: str) -> str | None:
    """A line without its quote, alert, definition, list and table marks (None: a table rule or
    an HTML remnant, which show nothing)."""
    if _TABLE_RULE.match(raw) or _HTML_REMNANT.search(raw):
        return None
    line = _ALERT.sub("", _QUOTE_MARK.sub("", raw))
    line = _DEFINITION.sub("", line)
    bullet = bool(_LIST_ITEM.match(line))
    line = _TASK_BOX.sub("", _LIST_ITEM.sub("", line)) if bullet else line.strip()
    if line.startswith("|") or line.count("|") >= 2:
        line = " · ".join(cell.strip() for cell in line.strip("|").split("|") if cell.strip())
    return _BULLET + line if bullet else line


def is_prose_line(raw: str) -> bool:
    """Whether no rule of ``marked_line`` can match the line, so it is only stripped: a quote, alert,
    definition or list mark needs one of ``_LINE_MARKS`` first (after spaces), a table a ``|``, an
    HTML remnant a ``<`` or an ``="``. Checking that costs far less than the rules themselves."""
    return raw.lstrip()[:1] not in _LINE_MARKS and "|" not in raw and "<" not in raw and '="' not in raw


_LINE_MARKS = frozenset(">[:*+-0123456789")

_BULLET = "\ue000"
"""Marks a list item's line while its markup is removed; shown as "• "."""


def mostly_chinese(text: str) -> bool:
    """Whether Chinese characters outnumber half the Latin words (a language guess for undeclared text)."""
    return _cjk_count(text) * 2 >= len(_LATIN_WORD.findall(text))


def wiki_targets(block: str) -> Iterator[str]:
    """The pages ``[[wiki links]]`` point to (``[[folder/AI|label]]`` → AI)."""
    for match in _WIKI.finditer(block):
        target = (match.group(2) or match.group(1)).strip().rsplit("/", 1)[-1].strip()
        if target:
            yield target


def text_weight(text: str) -> int:
    """How much a passage can say: CJK characters count 1, Latin words 2."""
    return _cjk_count(text) + 2 * len(_LATIN_WORD.findall(text))


def _cjk_count(text: str) -> int:
    """How many CJK characters the text holds, without a string per character (as ``findall`` makes)."""
    return len(text) - len(_CJK.sub("", text))


# --- sentences and paragraphs ---------------------------------------------------------------

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


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where each sentence with any text in it starts and ends (the whole text when it has none)."""
    spans: list[tuple[int, int]] = []
    position = 0
    for sentence in split_sentences(text):
        spans.append((position, position + len(sentence)))
        position += len(sentence)
    return [s for s in spans if text[s[0]:s[1]].strip()] or [(0, len(text))]


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


def build_paragraphs(sections: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Clean, split and merge blocks into quotable (heading, text) paragraphs."""
    pieces: list[tuple[str, str]] = []
    for heading, block in sections:
        text = clean_block(block)
        if not text.strip():
            continue
        pieces.extend((heading, piece) for piece in _split_long(text, MAX_PARAGRAPH_CHARS))
    return _merge_short(pieces)


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
                # Both headings stay the merged paragraph's context: it holds text under each.
                keep = " · ".join(dict.fromkeys(h for h in [*prev_heading.split(" · "), heading] if h))
                merged[-1] = (keep, f"{prev_text}\n{text}", prev_weight + weight)
                continue
        merged.append((heading, text, weight))
    return [(heading, text) for heading, text, _ in merged]
