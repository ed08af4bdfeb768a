"""Answer → what the user reads: Telegram HTML (escaped, ≤ 4096 characters) or terminal text.

Pure functions, no Telegram import: the bot, the CLI and the tests all render through here,
so the rules that make Telegram refuse a message (unescaped ``<`` or ``&``, unbalanced tags,
over 4096 characters after entity parsing, counted in UTF-16 units) are kept in one place.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from bot.search.answers import Answer, Quote, Span
from bot.telegram.strings import STRINGS, UNITS, is_chinese, strings

MESSAGE_LIMIT = 4096
_TAG = re.compile(r"<[^>]+>")


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 article``, ``2 articles``: a newcomer reads "1 articles" as a bug (``nouns``: an irregular plural)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def count(n: int, unit: str, lang: str | None = None) -> str:
    """``n`` of a ``UNITS`` entry in the UI language: 1 article, 2 articles, 2 篇文章 (Chinese needs no plural)."""
    one, many, chinese = UNITS[unit]
    return f"{n} {chinese}" if is_chinese(lang) else plural(n, one, many)


def escape(text: str) -> str:
    """Escape for Telegram HTML; also drops lone surrogates, which Telegram rejects."""
    clean = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return html.escape(clean, quote=True)


def visible_length(markup: str) -> int:
    """Length after entity parsing, in UTF-16 code units, as Telegram counts the 4096 limit."""
    return len(html.unescape(_TAG.sub("", markup)).encode("utf-16-le")) // 2


def highlight(text: str, sentence: Span | None, marks: Sequence[Span]) -> str:
    """Escaped HTML of ``text``: the answering sentence underlined, matched terms in bold."""
    cuts = sorted({0, len(text), *(sentence or ()), *(p for m in marks for p in m)})
    out: list[str] = []
    in_sentence = False
    for a, b in itertools.pairwise(cuts):
        starts_sentence = sentence is not None and a == sentence[0]
        if starts_sentence and not in_sentence:
            out.append("<u>")
            in_sentence = True
        piece = escape(text[a:b])
        bold = any(m[0] <= a and b <= m[1] for m in marks)
        out.append(f"<b>{piece}</b>" if bold and piece.strip() else piece)
        if in_sentence and sentence is not None and b == sentence[1]:
            out.append("</u>")
            in_sentence = False
    if in_sentence:
        out.append("</u>")
    return "".join(out)


def text_fragment_url(url: str, sentence: str) -> str:
    """The source URL scrolled to the quoted sentence (``#:~:text=``), which browsers highlight.

    Only for a one-line sentence (a contiguous run of the page's text) and a URL without its
    own fragment; long sentences use the ``start,end`` form so the link stays short.
    """
    sentence = sentence.strip().strip("…")
    if not sentence or "\n" in sentence or "#" in url or len(sentence) < 6:
        return url

    def enc(part: str) -> str:
        # '-' marks prefix/suffix context and ',' separates start from end in the syntax.
        return quote(part, safe="").replace("-", "%2D")

    if len(sentence) <= 60:
        return f"{url}#:~:text={enc(sentence)}"
    return f"{url}#:~:text={enc(_word_edge(sentence, 24, True))},{enc(_word_edge(sentence, 24, False))}"


def _word_edge(sentence: str, size: int, start: bool) -> str:
    """The first (or last) ~size characters, never cutting a Latin word: browsers match fragments
    at word boundaries, so "lama 3" would not find "Llama 3"."""
    piece = sentence[:size] if start else sentence[-size:]
    rest = sentence[size:size + 1] if start else sentence[-size - 1:-size]
    if rest.isascii() and rest.isalnum():
        edge = piece[-1:] if start else piece[:1]
        if edge.isascii() and edge.isalnum():
            cut = re.split(r"(?<=[^0-9A-Za-z])" if start else r"(?=[^0-9A-Za-z])", piece)
            piece = "".join(cut[:-1]) if start else "".join(cut[1:])
    return piece.strip() or (sentence[:size] if start else sentence[-size:]).strip()


def quote_header(quote: Quote, number: int, lang: str | None) -> str:
    """Title linking to the source (scrolled to the passage), then date and tags."""
    t = strings(lang)
    article = quote.article
    title = escape(article.title)
    if article.source_url:
        link = escape(text_fragment_url(article.source_url, quote.sentence_text))
        title = f'<a href="{link}">{title}</a>'
    facts = [article.date_text or t["no_date"]] + [f"#{escape(tag)}" for tag in article.tags[:3]]
    if not article.source_url:
        facts.append(escape(article.path))
    return f"<b>{number}.</b> {title}\n<i>{' · '.join(facts)}</i>"


def quote_html(quote: Quote, number: int, lang: str | None) -> str:
    """One quote as a self-contained HTML block: header, blockquote, why it matched."""
    t = strings(lang)
    body = highlight(quote.excerpt, quote.sentence, quote.marks)
    why = f"{t['matched']}: {escape(', '.join(quote.matched_terms))}" if quote.matched_terms else ""
    return f"{quote_header(quote, number, lang)}\n<blockquote>{body}</blockquote>" + (f"\n<i>{why}</i>" if why else "")


def answer_html(answer: Answer, lang: str | None = None, limit: int = MESSAGE_LIMIT) -> str:
    """A page of an answer as one Telegram message (≤ ``limit`` visible characters; less than 4096
    leaves room for a line above it, such as a follow-up's note)."""
    t = strings(lang)
    said = "".join(f"<i>{escape(line)}</i>\n" for line in reading_notes(answer, lang))
    if not answer.quotes:
        text = said + escape(t["nothing"].format(question=shorten(answer.question, 200)))
        if answer.suggestions:
            text += "\n" + escape(t["try_tags"].format(tags=", ".join(f"#{s}" for s in answer.suggestions)))
        return text
    blocks = [quote_html(q, answer.offset + i + 1, lang) for i, q in enumerate(answer.quotes)]
    if said:
        blocks[0] = said + blocks[0]
    if answer.total > len(answer.quotes):
        last = answer.offset + len(answer.quotes)
        blocks.append(f"<i>{escape(t['page'].format(first=answer.offset + 1, last=last, total=answer.total))}</i>")
    return fit("\n\n".join(blocks), blocks, limit)


def reading_notes(answer: Answer, lang: str | None) -> list[str]:
    """How the question was read, when that is not just as typed: the words corrected ("showing results
    for …", as a search engine says it) and the date whose articles come first."""
    t = strings(lang)
    notes = []
    if answer.searched:
        notes.append(t["showing_for"].format(searched=shorten(answer.searched, 200)))
    if answer.date is not None:
        notes.append(t["dated"].format(date=answer.date, words=answer.date.text))
    return notes


def fit(markup: str, blocks: Sequence[str], limit: int = MESSAGE_LIMIT) -> str:
    """``markup`` if it fits; else as many whole blocks as fit (blocks are each valid HTML)."""
    if visible_length(markup) <= limit:
        return markup
    kept: list[str] = []
    for block in blocks:
        candidate = "\n\n".join([*kept, block])
        if visible_length(candidate) > limit:
            break
        kept.append(block)
    return "\n\n".join(kept) if kept else escape(shorten(html.unescape(_TAG.sub("", blocks[0])), limit - 1))


def pack(blocks: Iterable[str], limit: int = MESSAGE_LIMIT, separator: str = "\n\n") -> list[str]:
    """Split whole HTML blocks over as few messages as possible, never inside a tag.

    A block that alone exceeds the limit is reduced to its plain text, shortened.
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        if visible_length(block) > limit:
            block = escape(shorten(html.unescape(_TAG.sub("", block)), limit - 1))
        candidate = f"{current}{separator}{block}" if current else block
        if visible_length(candidate) > limit and current:
            messages.append(current)
            current = block
        else:
            current = candidate
    if current:
        messages.append(current)
    return messages


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` UTF-16 units, cut at a character (never inside a surrogate pair) with "…"."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    out: list[str] = []
    used = 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > limit - 1:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip() + "…"


def answer_text(answer: Answer) -> str:
    """An answer for the terminal: numbered quotes, the answering sentence between »«, links."""
    notes = reading_notes(answer, "en")
    if not answer.quotes:
        lines = [*notes, STRINGS["en"]["nothing"].format(question=shorten(answer.question, 200))]
        if answer.suggestions:
            lines.append(STRINGS["en"]["try_tags"].format(tags=", ".join(answer.suggestions)))
        return "\n".join(lines)
    parts = ["\n".join(notes)] if notes else []
    for number, item in enumerate(answer.quotes, answer.offset + 1):
        article = item.article
        a, b = item.sentence
        excerpt = f"{item.excerpt[:a]}»{item.excerpt[a:b]}«{item.excerpt[b:]}"
        body = "\n".join(f"  │ {line}" for line in excerpt.splitlines())
        source = article.source_url or article.path
        matched = f"\n  matched: {', '.join(item.matched_terms)}" if item.matched_terms else ""
        parts.append(f"{number}. {title_line(article.title, article.date_text, article.tags)}\n{body}\n"
                     f"  → {source}{matched}")
    return "\n\n".join(parts)


def title_line(title: str, date: str, tags: Sequence[str]) -> str:
    """``Title  (2025-02-10 · iyiou, AI)``: date and the first three tags in parentheses, when there are any."""
    facts = " · ".join(x for x in (date, ", ".join(tags[:3])) if x)
    return f"{title}  ({facts})" if facts else title
