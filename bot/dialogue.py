"""What the bot says to each request: requests in, ``Reply`` objects out, no Telegram types.

Handlers stay thin: they turn an update into a call here and the Reply into an API call.
Everything a user can see is decided (and tested) in this module; buttons are plain data,
with callback data kept under Telegram's 64 bytes by storing the long part in ``State``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.answers import Answer, Answerer
from bot.errors import QuestionError
from bot.replies import answer_html, escape, pack, quote_html, shorten, strings, text_fragment_url
from bot.state import State

if TYPE_CHECKING:
    from bot.summaries import Summarizer

CALLBACK_LIMIT = 64
INLINE_RESULTS = 10
TAGS_PER_PAGE = 8
DIGEST_PER_PAGE = 5


@dataclass(frozen=True)
class Button:
    """An inline-keyboard button: either callback data (≤ 64 bytes) or a URL."""

    label: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Reply:
    """One message to send (or to edit in place, for paging)."""

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    preview_url: str | None = None
    """The link to preview, or None for no preview (answers carry several links)."""
    query_id: int | None = None
    """The stored question this message answers, so a reply to it can be a follow-up."""
    edit: bool = False
    extra: tuple[str, ...] = field(default_factory=tuple)
    """Further messages, when a reply is too long for one (tag digests)."""


@dataclass(frozen=True)
class InlineResult:
    id: str
    title: str
    description: str
    html: str
    url: str | None


EN_HELP = """<b>articlebot</b> answers questions by quoting the articles it has read, with links to the originals.

Just type a question, e.g. <i>DeepSeek V3 的训练成本是多少？</i>
/ask QUESTION: ask (in groups too)
/tags: browse tags
/tag NAME: a tag's articles with short summaries
/latest [N]: the newest articles
/source QUERY: links to the original articles
/about: what I have read
In groups, mention me or reply to my message. In any chat, type @{bot} and a question."""

ZH_HELP = """<b>articlebot</b> 引用已收录文章的原文来回答问题，并附上原文链接。

直接输入问题即可，例如 <i>DeepSeek V3 的训练成本是多少？</i>
/ask 问题：提问（群组中也可用）
/tags：浏览标签
/tag 名称：某标签下的文章及摘要
/latest [N]：最新文章
/source 关键词：原文链接
/about：收录情况
在群组中请 @我 或回复我的消息；在任意聊天中输入 @{bot} 加问题即可内联搜索。"""

EXAMPLES = ("DeepSeek V3 的训练成本是多少？", "英偉達股價", "Bitcoin price this week")


class Dialogue:
    """The bot's side of every conversation."""

    def __init__(self, answerer: Answerer, summarizer: Summarizer, state: State, top_k: int = 3,
                 bot_username: str = "articlebot") -> None:
        self.answerer = answerer
        self.summarizer = summarizer
        self.state = state
        self.top_k = top_k
        self.bot_username = bot_username

    # --- questions ----------------------------------------------------------------------

    def ask(self, question: str, lang: str | None, context_query: int | None = None,
            chat_id: int | None = None) -> Reply:
        """Answer a question; ``context_query`` is the stored question a follow-up replies to."""
        context = ""
        if context_query is not None:
            previous = self.state.recall(context_query)
            if previous and previous.kind == "ask":
                context = " ".join(filter(None, (previous.text, previous.context)))
        try:
            answer = self.answerer.answer(question, k=self.top_k, context=context)
        except QuestionError as error:
            return Reply(escape(str(error)))
        query_id = self.state.remember("ask", question, context, chat_id)
        return self._answer_reply(answer, query_id, lang)

    def more(self, query_id: int, offset: int, lang: str | None) -> Reply:
        """The next page of an earlier answer, replacing the message it was asked from."""
        stored = self.state.recall(query_id)
        if stored is None or stored.kind != "ask":
            return Reply(escape(strings(lang)["expired"]))
        try:
            answer = self.answerer.answer(stored.text, k=self.top_k, offset=max(0, offset), context=stored.context)
        except QuestionError as error:
            return Reply(escape(str(error)))
        reply = self._answer_reply(answer, query_id, lang)
        return Reply(reply.html, reply.buttons, reply.preview_url, query_id, edit=True)

    def _answer_reply(self, answer: Answer, query_id: int, lang: str | None) -> Reply:
        t = strings(lang)
        html = answer_html(answer, lang)
        if not answer.quotes:
            buttons = tuple((self._tag_button(tag),) for tag in answer.suggestions[:4])
            return Reply(html, buttons, query_id=query_id)
        row: list[Button] = []
        if answer.has_more:
            row.append(Button(f"{t['more']} ▸", data=f"m:{query_id}:{answer.offset + len(answer.quotes)}"))
        if answer.offset > 0:
            row.insert(0, Button(f"◂ {t['back']}", data=f"m:{query_id}:{max(0, answer.offset - self.top_k)}"))
        row.append(Button(t["summary"], data=f"s:{query_id}:{answer.offset}"))
        top = answer.quotes[0]
        if top.article.source_url:
            row.append(Button(t["source"], url=text_fragment_url(top.article.source_url, top.sentence_text)))
        return Reply(html, (tuple(row),), query_id=query_id)

    def summary(self, query_id: int, offset: int, lang: str | None) -> Reply:
        """The extractive summary of the first article on that page of an answer."""
        stored = self.state.recall(query_id)
        if stored is None or stored.kind != "ask":
            return Reply(escape(strings(lang)["expired"]))
        try:
            answer = self.answerer.answer(stored.text, k=1, offset=max(0, offset), context=stored.context)
        except QuestionError as error:
            return Reply(escape(str(error)))
        if not answer.quotes:
            return Reply(escape(strings(lang)["expired"]))
        return self.article_summary(answer.quotes[0].article.path, lang)

    def article_summary(self, path: str, lang: str | None) -> Reply:
        t = strings(lang)
        article = self.summarizer.article(path)
        if article is None:
            return Reply(escape(t["expired"]))
        summary = self.summarizer.summarize(article)
        label = t["author_summary"] if summary.source == "author" else t["extract_summary"]
        html = (f"{_article_link(article.title, article.source_url)}\n<i>{escape(article.date_text)}</i>\n"
                f"<blockquote>{escape(summary.text)}</blockquote>\n<i>{escape(label)}</i>")
        buttons = ((Button(t["source"], url=article.source_url),),) if article.source_url else ()
        return Reply(pack([html])[0], buttons, preview_url=article.source_url)

    def source(self, query: str, lang: str | None) -> Reply:
        """Links to the originals of the best-matching articles."""
        t = strings(lang)
        try:
            answer = self.answerer.answer(query, k=5)
        except QuestionError as error:
            return Reply(escape(str(error)))
        if not answer.quotes:
            return Reply(answer_html(answer, lang))
        lines = []
        for number, quote in enumerate(answer.quotes, 1):
            article = quote.article
            where = escape(article.source_url) if article.source_url else escape(article.path)
            lines.append(f"{number}. {_article_link(article.title, article.source_url)}\n"
                         f"<i>{escape(article.date_text or t['no_date'])}</i> {where}")
        first = answer.quotes[0].article.source_url
        return Reply("\n\n".join(lines), preview_url=first)

    # --- browsing -----------------------------------------------------------------------

    def tags(self, page: int, lang: str | None) -> Reply:
        """Tags and topics with article counts, as buttons, paged."""
        t = strings(lang)
        entries = self.summarizer.tags()
        pages = max(1, -(-len(entries) // TAGS_PER_PAGE))
        page = min(max(1, page), pages)
        shown = entries[(page - 1) * TAGS_PER_PAGE: page * TAGS_PER_PAGE]
        rows = [(self._tag_button(name, f"{name} ({count})"),) for name, count, _kind in shown]
        nav = []
        if page > 1:
            nav.append(Button(f"◂ {t['back']}", data=f"tp:{page - 1}"))
        if page < pages:
            nav.append(Button(f"{t['more']} ▸", data=f"tp:{page + 1}"))
        if nav:
            rows.append(tuple(nav))
        html = escape(t["tags_title"].format(page=page, pages=pages, total=len(entries)))
        return Reply(html, tuple(rows), edit=page > 1)

    def tag(self, name: str, page: int, lang: str | None, edit: bool = False) -> Reply:
        """A tag's (or topic's) articles, newest first, each with a short summary; paged."""
        t = strings(lang)
        name = name.strip().lstrip("#")
        if not name:
            return Reply(escape(t["tag_usage"]))
        digest = self.summarizer.digest(name, page=page, per_page=DIGEST_PER_PAGE)
        if not digest.items:
            buttons = tuple((self._tag_button(s),) for s in digest.suggestions[:4])
            return Reply(escape(t["unknown_tag"].format(name=shorten(name, 60))), buttons)
        blocks = [f"<b>#{escape(digest.name)}</b> · {escape(t['articles_count'].format(n=digest.total))}"]
        if digest.overview and digest.page == 1:
            lines = [f"• {escape(s)} {_article_link('↗', a.source_url)}" if a.source_url else f"• {escape(s)}"
                     for s, a in digest.overview]
            blocks.append("<blockquote>" + "\n".join(lines) + "</blockquote>")
        for number, (article, summary) in enumerate(digest.items, (digest.page - 1) * DIGEST_PER_PAGE + 1):
            blocks.append(f"{number}. {_article_link(article.title, article.source_url)}\n"
                          f"<i>{escape(article.date_text or t['no_date'])}</i>\n{escape(summary.text)}")
        query_id = self.state.remember("tag", name)
        nav = []
        if digest.page > 1:
            nav.append(Button(f"◂ {t['back']}", data=f"t:{query_id}:{digest.page - 1}"))
        if digest.page < digest.pages:
            nav.append(Button(f"{t['more']} ▸", data=f"t:{query_id}:{digest.page + 1}"))
        messages = pack(blocks)
        return Reply(messages[0], (tuple(nav),) if nav else (), edit=edit, extra=tuple(messages[1:]))

    def latest(self, n: int, lang: str | None) -> Reply:
        t = strings(lang)
        n = min(max(1, n), 20)
        blocks = [f"<b>{escape(t['latest_title'])}</b>"]
        for number, (article, summary) in enumerate(self.summarizer.latest(n), 1):
            tags = " ".join(f"#{escape(tag)}" for tag in article.tags[:2])
            blocks.append(f"{number}. {_article_link(article.title, article.source_url)}\n"
                          f"<i>{escape(article.date_text or t['no_date'])}</i> {tags}\n{escape(summary.text)}")
        messages = pack(blocks)
        return Reply(messages[0], extra=tuple(messages[1:]))

    def _tag_button(self, name: str, label: str | None = None) -> Button:
        data = f"tn:{name}"
        if len(data.encode()) > CALLBACK_LIMIT:
            data = f"t:{self.state.remember('tag', name)}:1"
        return Button(label or f"#{name}", data=data)

    # --- buttons --------------------------------------------------------------------------

    def callback(self, data: str, lang: str | None) -> Reply:
        """Dispatch a button press; unknown or stale data gets a polite 'expired'."""
        kind, _, rest = data.partition(":")
        try:
            if kind == "m":
                query_id, offset = rest.split(":")
                return self.more(int(query_id), int(offset), lang)
            if kind == "q":
                reply = self.more(int(rest), 0, lang)
                return Reply(reply.html, reply.buttons, reply.preview_url, reply.query_id)
            if kind == "s":
                query_id, offset = rest.split(":")
                return self.summary(int(query_id), int(offset), lang)
            if kind == "tp":
                return self.tags(int(rest), lang)
            if kind == "tn":
                return self.tag(rest, 1, lang)
            if kind == "t":
                query_id, page = rest.split(":")
                stored = self.state.recall(int(query_id))
                if stored and stored.kind == "tag":
                    return self.tag(stored.text, int(page), lang, edit=int(page) > 1)
        except ValueError:
            pass
        return Reply(escape(strings(lang)["expired"]))

    # --- commands without a corpus question ---------------------------------------------

    def start(self, payload: str, lang: str | None) -> Reply:
        """Welcome, or a deep link: ``t.me/<bot>?start=tag_<name>`` opens that tag."""
        if payload.startswith("tag_"):
            return self.tag(payload[4:], 1, lang)
        t = strings(lang)
        html = escape(t["welcome"].format(articles=len(self.answerer.library.articles)))
        buttons = tuple((Button(example, data=f"q:{self.state.remember('ask', example)}"),)
                        for example in EXAMPLES)
        return Reply(html + "\n\n" + self.help(lang).html, buttons)

    def help(self, lang: str | None) -> Reply:
        template = ZH_HELP if strings(lang) is strings("zh") else EN_HELP
        return Reply(template.replace("{bot}", escape(self.bot_username)))

    def about(self, lang: str | None) -> Reply:
        t = strings(lang)
        library = self.answerer.library
        built = datetime.fromtimestamp(library.built_at).strftime("%Y-%m-%d %H:%M")
        dates = [a.date for a in library.articles if a.date]
        span = f"{min(dates):%Y-%m-%d} – {max(dates):%Y-%m-%d}" if dates else "–"
        return Reply(escape(t["about"].format(articles=len(library.articles), paragraphs=library.paragraph_count,
                                              tags=len(self.summarizer.tags()), span=span, built=built,
                                              skipped=len(library.report.skipped))))

    def say(self, key: str, lang: str | None, **values: object) -> Reply:
        """A fixed message by its key in the UI strings (unknown command, rate limit, apology…)."""
        return Reply(escape(strings(lang)[key].format(**values)))

    # --- inline mode ----------------------------------------------------------------------

    def inline(self, query: str, lang: str | None) -> list[InlineResult]:
        """Up to ten quotes, each a ready-to-send message with its link; ids unique and short."""
        if not query.strip():
            return [self._inline_article(article, summary.text, lang)
                    for article, summary in self.summarizer.latest(INLINE_RESULTS)]
        try:
            answer = self.answerer.answer(query, k=INLINE_RESULTS)
        except QuestionError:
            return []
        results = []
        for number, quote in enumerate(answer.quotes, 1):
            html = quote_html(quote, number, lang)
            key = hashlib.sha1(f"{query}\0{quote.article.path}\0{quote.paragraph.position}".encode()).hexdigest()
            results.append(InlineResult(key[:32], shorten(quote.article.title, 100),
                                        shorten(quote.sentence_text.strip(), 120), html, quote.article.source_url))
        return results

    def _inline_article(self, article, text: str, lang: str | None) -> InlineResult:  # type: ignore[no-untyped-def]
        html = f"{_article_link(article.title, article.source_url)}\n<i>{escape(article.date_text)}</i>\n{escape(text)}"
        key = hashlib.sha1(article.path.encode()).hexdigest()[:32]
        return InlineResult(key, shorten(article.title, 100), shorten(text, 120), html, article.source_url)


def _article_link(title: str, url: str | None) -> str:
    return f'<a href="{escape(url)}">{escape(title)}</a>' if url else f"<b>{escape(title)}</b>"
