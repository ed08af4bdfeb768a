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

MESSAGE_LIMIT = 4096
_TAG = re.compile(r"<[^>]+>")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "nothing": "Nothing in the articles answers “{question}”.",
        "try_tags": "Try a tag: {tags}",
        "matched": "Matched",
        "more": "More",
        "summary": "Summary",
        "source": "Source",
        "page": "{first}–{last} of {total}",
        "no_date": "undated",
        "back": "Back",
        "expired": "That button has expired; please ask again.",
        "author_summary": "Summary written by the author.",
        "extract_summary": "Extractive summary: sentences quoted from the article.",
        "tags_title": "Tags and topics (page {page} of {pages}, {total} in all). Tap one to see its articles.",
        "tags_title_typed": "Tags and topics (page {page} of {pages}, {total} in all). /tag NAME shows one's articles.",
        "tag_usage": "Usage: /tag NAME, e.g. /tag iyiou. /tags lists them.",
        "unknown_tag": "I know no tag or topic called “{name}”, and no article mentions it.",
        "latest_title": "Latest articles",
        "welcome": "Hi! I answer questions about {articles} by quoting them, with links to the originals.",
        "about": "I have read {articles} ({paragraphs}, {tags}), dated {span}. Index built {built}. Files skipped: {skipped}.",
        "unknown_command": "I don't know that command. /help lists what I can do.",
        "not_text": "I can only read text. Send me a question as a message.",
        "rate_limited": "You're asking faster than I can answer well. Please wait {seconds} seconds.",
        "apology": "Sorry, something went wrong while answering. Please try again in a moment.",
        "ask_usage": "Usage: /ask QUESTION, e.g. /ask DeepSeek V3 的训练成本是多少？",
        "source_usage": "Usage: /source QUERY, e.g. /source DeepSeek",
        "admin_only": "Sorry, only the bot's admins can use that command.",
        "admin_only_settings": "Sorry, only the bot's admins can change this group's settings.",
        "not_allowed": "Sorry, this bot only answers in the chats it was set up for.",
        "settings_title": "Settings for this chat",
        "settings_language": "Language: {value}",
        "settings_per_page": "Quotes per answer: {value}",
        "settings_auto": "each user's own",
        "settings_hint": "Tap to change.",
        "saved": "Saved.",
        "feedback_thanks": "Thanks! Your {vote} is noted.",
        "feedback_changed": "Changed to {vote}.",
        "feedback_same": "You already gave this {vote}.",
        "stats_usage": "Usage: /stats [DAYS], e.g. /stats 7",
        "following_up": "(following up on “{question}”)",
    },
    "zh": {
        "nothing": "文章里没有找到能回答“{question}”的内容。",
        "try_tags": "试试这些标签：{tags}",
        "matched": "匹配",
        "more": "更多",
        "summary": "摘要",
        "source": "原文",
        "page": "第 {first}–{last} 条，共 {total} 条",
        "no_date": "无日期",
        "back": "上一页",
        "expired": "这个按钮已过期，请重新提问。",
        "author_summary": "摘要由作者撰写。",
        "extract_summary": "抽取式摘要：句子均摘自原文。",
        "tags_title": "标签与主题（第 {page}/{pages} 页，共 {total} 个），点击查看文章。",
        "tags_title_typed": "标签与主题（第 {page}/{pages} 页，共 {total} 个），输入 /tag 名称 查看文章。",
        "tag_usage": "用法：/tag 名称，例如 /tag iyiou。/tags 可列出全部标签。",
        "unknown_tag": "没有名为“{name}”的标签或主题，也没有文章提到它。",
        "latest_title": "最新文章",
        "welcome": "你好！我通过引用已收录的 {articles}的原文来回答问题，并附原文链接。",
        "about": "已收录 {articles}（{paragraphs}，{tags}），日期 {span}。索引建于 {built}。跳过的文件：{skipped}。",
        "unknown_command": "我不认识这个命令。发送 /help 查看可用命令。",
        "not_text": "我只能读文字。请把问题以文字发给我。",
        "rate_limited": "提问太快了，请 {seconds} 秒后再试。",
        "apology": "抱歉，回答时出了点问题，请稍后再试。",
        "ask_usage": "用法：/ask 问题，例如 /ask DeepSeek V3 的训练成本是多少？",
        "source_usage": "用法：/source 关键词，例如 /source DeepSeek",
        "admin_only": "抱歉，只有本机器人的管理员可以使用这个命令。",
        "admin_only_settings": "抱歉，只有本机器人的管理员可以更改本群的设置。",
        "not_allowed": "抱歉，本机器人只在指定的聊天中回答。",
        "settings_title": "本聊天的设置",
        "settings_language": "语言：{value}",
        "settings_per_page": "每次回答的引文数：{value}",
        "settings_auto": "跟随各用户",
        "settings_hint": "点击按钮更改。",
        "saved": "已保存。",
        "feedback_thanks": "谢谢！已记下你的 {vote}。",
        "feedback_changed": "已改为 {vote}。",
        "feedback_same": "你已经给过 {vote} 了。",
        "stats_usage": "用法：/stats [天数]，例如 /stats 7",
        "following_up": "（接着上一个问题“{question}”）",
    },
}


UNITS: dict[str, tuple[str, str, str]] = {
    "article": ("article", "articles", "篇文章"),
    "paragraph": ("paragraph", "paragraphs", "个段落"),
    "tag": ("tag or topic", "tags and topics", "个标签和主题"),
    "file": ("file", "files", "个文件"),
}
"""What ``count`` counts: English singular, English plural, Chinese (measure word and noun)."""


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 article``, ``2 articles``: a newcomer reads "1 articles" as a bug (``nouns``: an irregular plural)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def count(n: int, unit: str, lang: str | None = None) -> str:
    """``n`` of a ``UNITS`` entry in the UI language: 1 article, 2 articles, 2 篇文章 (Chinese needs no plural)."""
    one, many, chinese = UNITS[unit]
    return f"{n} {chinese}" if strings(lang) is STRINGS["zh"] else plural(n, one, many)


def strings(lang: str | None) -> dict[str, str]:
    """UI strings for a Telegram ``language_code`` (zh-hans, zh-TW … → zh; anything else → en)."""
    return STRINGS["zh"] if (lang or "").lower().startswith("zh") else STRINGS["en"]


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
    if not answer.quotes:
        text = escape(t["nothing"].format(question=shorten(answer.question, 200)))
        if answer.suggestions:
            text += "\n" + escape(t["try_tags"].format(tags=", ".join(f"#{s}" for s in answer.suggestions)))
        return text
    blocks = [quote_html(q, answer.offset + i + 1, lang) for i, q in enumerate(answer.quotes)]
    if answer.total > len(answer.quotes):
        last = answer.offset + len(answer.quotes)
        blocks.append(f"<i>{escape(t['page'].format(first=answer.offset + 1, last=last, total=answer.total))}</i>")
    return fit("\n\n".join(blocks), blocks, limit)


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
    if not answer.quotes:
        lines = [STRINGS["en"]["nothing"].format(question=shorten(answer.question, 200))]
        if answer.suggestions:
            lines.append(STRINGS["en"]["try_tags"].format(tags=", ".join(answer.suggestions)))
        return "\n".join(lines)
    parts = []
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
