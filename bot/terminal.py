"""The terminal chat: the Telegram bot's ``Dialogue``, typed instead of tapped.

One dialogue serves both: a typed line is parsed into the command Telegram would have received
(``parse``), ``Conversation`` makes the Dialogue call and keeps what Telegram keeps in its messages
(which answer "more" pages, which quotes "summary N" refers to, which question a follow-up follows),
and each Reply's Telegram HTML is rendered for the terminal (``render``): ANSI bold and underline on
a TTY, plain text when piped. Buttons become one line of what can be typed next (``hint``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TextIO

from bot.telegram.dialogue import Dialogue, Reply
from bot.telegram.replies import count, escape
from bot.telegram.strings import strings

PROMPT = "? "
"""The prompt, and the mark before each piped line echoed: a transcript reads the same either way."""
QUOTE_BAR = "  │ "
"""What a quoted line starts with (Telegram draws a bar beside a blockquote)."""
LATEST_DEFAULT = 5
"""Articles /latest shows without N (as on Telegram)."""

BOLD, DIM, UNDERLINE, STRIKE = "1", "2", "4", "9"
_STYLES = {"b": BOLD, "strong": BOLD, "i": DIM, "em": DIM, "u": UNDERLINE, "ins": UNDERLINE,
           "s": STRIKE, "strike": STRIKE, "del": STRIKE}
"""Telegram HTML tags → SGR codes. Italics (dates, "Matched", notes) are dimmed: they are the
secondary lines, and dim shows in every terminal where italics do not."""
_TEXT_FRAGMENT = re.compile(r"#:~:text=.*$")

COMMANDS = ("/help", "/tags", "/tag", "/latest", "/source", "/about", "/quit", "/exit", "more", "back", "summary",
            "quit", "exit")
"""What can be typed besides a question (offered by tab completion)."""


# --- typed lines → commands -------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """What a typed line asks for: ``name`` is one of "ask", "help", "tags", "tag", "latest",
    "source", "about", "more", "back", "summary", "quit" or "unknown"; ``argument`` the rest."""

    name: str
    argument: str = ""


_SLASH = {"help": "help", "start": "help", "tags": "tags", "tag": "tag", "latest": "latest", "source": "source",
          "about": "about", "more": "more", "back": "back", "summary": "summary", "quit": "quit", "exit": "quit",
          "ask": "ask"}
_WORDS = {"help": "help", "more": "more", "back": "back", "quit": "quit", "exit": "quit"}
_SUMMARY = re.compile(r"summary(?:\s+(\d\S*))?", re.IGNORECASE)


def parse(line: str) -> Command | None:
    """The command a typed line means; None for a blank line.

    A line starting with "/" is a command (an unknown one is never searched as a question);
    "more", "back", "help", "quit" and "exit" alone, and "summary" alone or before a number, are
    commands too; anything else is a question ("summary of the earnings call" included).
    """
    text = line.strip()
    if not text:
        return None
    if text.startswith("/"):
        head, _, rest = text[1:].partition(" ")
        name = _SLASH.get(head.split("@", 1)[0].lower())
        return Command(name, rest.strip()) if name else Command("unknown", text.split()[0])
    word = text.lower()
    if word in _WORDS:
        return Command(_WORDS[word])
    summary = _SUMMARY.fullmatch(text)
    if summary:
        return Command("summary", summary.group(1) or "")
    return Command("ask", text)


def complete(before: str, tag_names: Sequence[str] = ()) -> list[str]:
    """Tab completions of the line typed so far: commands, and tag names after "/tag "."""
    if before.lower().startswith("/tag "):
        start = before[5:].lstrip().lower()
        return [f"/tag {name}" for name in tag_names if name.lower().startswith(start)]
    if " " in before:
        return []
    return [command for command in COMMANDS if command.startswith(before.lower())]


# --- Telegram HTML → terminal text -------------------------------------------------------

def use_styles(isatty: bool, environ: Mapping[str, str]) -> bool:
    """ANSI styles only on a terminal that shows them: not piped, not ``TERM=dumb``, not ``NO_COLOR``."""
    return isatty and environ.get("TERM") != "dumb" and not environ.get("NO_COLOR")


def display_url(url: str) -> str:
    """The URL without a ``#:~:text=`` fragment: in a terminal the percent-encoded sentence would
    triple the line, and the quote shows the sentence anyway."""
    return _TEXT_FRAGMENT.sub("", url)


class _Renderer(HTMLParser):
    """Telegram HTML → text, styled with ANSI codes when ``styled``; entities unescaped.

    Styles are emitted lazily, just before the text they style, and reset before every line
    break: a quote's bar is never underlined, and a line cut off by the terminal leaks no style.
    """

    def __init__(self, styled: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.styled = styled
        self.out: list[str] = []
        self.active: list[str] = []
        """SGR codes of the open tags, outermost first."""
        self.emitted: tuple[str, ...] = ()
        """SGR codes in effect where the output ends."""
        self.quoting = 0
        self.line_start = True
        self.block_ended = False
        """A blockquote just closed: what follows starts on a new line."""
        self.links: list[tuple[str, int, tuple[str, ...]]] = []
        """Open links: href, where their text starts in ``out``, and the styles in effect there."""

    def _style(self, codes: tuple[str, ...]) -> None:
        if self.styled and codes != self.emitted:
            self.out.append(("\x1b[0m" if self.emitted else "") + "".join(f"\x1b[{c}m" for c in codes))
            self.emitted = codes

    def _write(self, text: str) -> None:
        if self.block_ended and text:
            self.block_ended = False
            if not text.startswith("\n"):
                text = "\n" + text
        for i, piece in enumerate(text.split("\n")):
            if i:
                self._style(())
                self.out.append("\n")
                self.line_start = True
            if not piece:
                continue
            if self.line_start and self.quoting:
                self._style(())
                self.out.append(QUOTE_BAR * self.quoting)
            self._style(tuple(self.active))
            self.out.append(piece)
            self.line_start = False

    def _break(self) -> None:
        """Start a new line unless at one: a blockquote is a block of its own."""
        if not self.line_start:
            self._write("\n")
        self.block_ended = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _STYLES:
            self.active.append(_STYLES[tag])
        elif tag == "blockquote":
            self._break()
            self.quoting += 1
        elif tag == "pre":
            self._break()
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out), self.emitted))

    def handle_endtag(self, tag: str) -> None:
        if tag in _STYLES and _STYLES[tag] in self.active:
            del self.active[len(self.active) - 1 - self.active[::-1].index(_STYLES[tag])]  # the innermost
        elif tag == "blockquote" and self.quoting:
            self.quoting -= 1
            self.block_ended = True
        elif tag == "a" and self.links:
            href, start, emitted = self.links.pop()
            url = display_url(href)
            text = _plain("".join(self.out[start:])).strip()
            if not url:
                return
            if not any(ch.isalnum() for ch in text) or text == url:  # an icon ("↗") or the URL itself
                del self.out[start:]
                self.emitted = emitted
                self._write(url)
            else:
                self._write(f" <{url}>")

    def handle_data(self, data: str) -> None:
        self._write(data)

    def text(self) -> str:
        self.close()
        self._style(())
        return "".join(self.out).rstrip("\n")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def render(html: str, styled: bool) -> str:
    """Telegram HTML as terminal text.

    Bold and underline become ANSI bold and underline, italics dim (when ``styled``; otherwise
    plain text without any marks); a link is its text followed by ``<URL>``, or the URL alone for
    an icon; blockquote lines start with a bar. Lines are not wrapped: the terminal wraps them.
    """
    renderer = _Renderer(styled)
    renderer.feed(html)
    return renderer.text()


def hint(reply: Reply) -> str:
    """What can be typed next, from the reply's buttons ("more · summary 1–3 · /tag iyiou"); "" for none."""
    commands = [b.command for row in reply.buttons for b in row if b.command]
    return " · ".join(dict.fromkeys(commands))


def show(reply: Reply, styled: bool) -> str:
    """A whole Reply as terminal text: its messages, then the hint line."""
    text = "\n\n".join(render(html, styled) for html in (reply.html, *reply.extra, escape(reply.toast or "")) if html)
    next_line = hint(reply)
    if next_line:
        text += ("\n" if text else "") + render(f"<i>{escape('next: ' + next_line)}</i>", styled)
    return text


# --- the conversation ---------------------------------------------------------------------

@dataclass
class Conversation:
    """One terminal conversation: the Dialogue calls a typed line makes, and what a Telegram chat
    would keep in its messages.

    ``previous`` is the last question that found quotes (a short question may follow up on it);
    ``answer`` and ``seen`` say which answer "summary N" refers to and how far it was read, and
    ``articles`` which article each of its quotes came from (by number), as a Telegram message
    keeps the article behind its Summary button; ``paged`` is the last reply that comes in pages
    (an answer, /tags, a tag's articles), which "more" and "back" turn. /help, /about and summaries
    leave them as they are.
    """

    dialogue: Dialogue
    lang: str | None = None
    previous: int | None = None
    answer: Reply | None = None
    seen: int = 0
    articles: dict[int, tuple[str, str]] = field(default_factory=dict)
    paged: Reply | None = None
    _handlers: dict[str, Callable[[str], Reply]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._handlers = {"ask": self.ask, "help": self.help, "tags": self.tags, "tag": self.tag,
                          "latest": self.latest, "source": self.source, "about": self.about,
                          "more": lambda _: self.turn("more"), "back": lambda _: self.turn("back"),
                          "summary": self.summary, "unknown": self.unknown}

    def respond(self, command: Command) -> Reply:
        """The reply to a command (``quit`` is the caller's to handle)."""
        return self._handlers[command.name](command.argument)

    def _say(self, key: str, **values: object) -> Reply:
        return Reply(escape(strings(self.lang)[key].format(**values)))

    def ask(self, question: str) -> Reply:
        if not question:
            return self.dialogue.say("ask_usage", self.lang)
        reply = self.dialogue.ask(question, self.lang, chat_type="terminal", previous=self.previous)
        if reply.query_id is not None:
            self.paged = reply
        if reply.quoted:
            self.previous, self.answer, self.seen = reply.query_id, reply, max(reply.quoted)
            self.articles = dict(zip(reply.quoted, reply.articles, strict=True))
        return reply

    def help(self, _: str) -> Reply:
        return self.dialogue.help(self.lang)

    def tags(self, argument: str) -> Reply:
        self.paged = self.dialogue.tags(int(argument) if argument.isdigit() else 1, self.lang)
        return self.paged

    def tag(self, name: str) -> Reply:
        reply = self.dialogue.tag(name, 1, self.lang)
        if name.strip():
            self.paged = reply
        return reply

    def latest(self, argument: str) -> Reply:
        if argument and not (argument.isdigit() and int(argument) >= 1):
            return self._say("latest_usage")
        return self.dialogue.latest(int(argument) if argument else LATEST_DEFAULT, self.lang)

    def source(self, query: str) -> Reply:
        return self.dialogue.source(query, self.lang) if query else self.dialogue.say("source_usage", self.lang)

    def about(self, _: str) -> Reply:
        return self.dialogue.about(self.lang)

    def turn(self, direction: str) -> Reply:
        """"more" or "back": press that button of the last paged reply."""
        if self.paged is None:
            return self._say("nothing_to_turn")
        button = next((b for row in self.paged.buttons for b in row if b.command == direction and b.data), None)
        if button is None or button.data is None:
            return self._say("nothing_more" if direction == "more" else "first_page")
        reply = self.dialogue.callback(button.data, self.lang)
        self.paged = reply
        if reply.quoted and reply.query_id == (self.answer.query_id if self.answer else None):
            self.answer, self.seen = reply, max(self.seen, *reply.quoted)
            self.articles.update(zip(reply.quoted, reply.articles, strict=True))
        return reply

    def summary(self, argument: str) -> Reply:
        """``summary N``: the article quote N came from, as the answer showed it (never searched again)."""
        if self.answer is None or self.answer.query_id is None:
            return self._say("no_answer_yet")
        if not argument.isdigit():
            return self._say("summary_usage")
        n = int(argument)
        if not 1 <= n <= self.seen or n not in self.articles:
            t = strings(self.lang)
            shown = t["quotes_shown_one"] if self.seen == 1 else t["quotes_shown"].format(last=self.seen)
            return self._say("no_such_quote", n=n, shown=shown)
        path, title = self.articles[n]
        return self.dialogue.article_summary(path, self.lang, title)

    def unknown(self, command: str) -> Reply:
        return self._say("unknown_command_typed", command=command)


# --- the loop -------------------------------------------------------------------------------

def banner(articles: int, paragraphs: int, notice: str | None = None, lang: str | None = None) -> str:
    """What a TTY shows first: the corpus size (or ``notice``, e.g. that it is empty), and how to
    get help and leave."""
    first = notice or f"articlebot · {count(articles, 'article', lang)} ({count(paragraphs, 'paragraph', lang)})"
    return f"{first}\n{strings(lang)['banner_hint']}"


def _line_editing(tag_names: Callable[[], Sequence[str]]) -> None:
    """Arrow keys, history (this session's, never written to disk) and tab completion for ``input``.

    ``readline`` is imported only here, for a terminal: it is missing on some Pythons (Windows),
    and there the chat still works, without line editing.
    """
    try:
        import readline
    except ImportError:
        return

    def completer(text: str, state: int) -> str | None:
        before = readline.get_line_buffer()[:readline.get_endidx()]
        options = complete(before, tag_names())
        # readline replaces only the word being completed (the text after the last space)
        words = [option[len(before) - len(text):] for option in options]
        return words[state] if state < len(words) else None

    readline.set_completer_delims(" \t\n")
    readline.set_completer(completer)
    readline.parse_and_bind("bind ^I rl_complete" if "libedit" in (readline.__doc__ or "") else "tab: complete")


def chat(conversation: Conversation, lines: Iterable[str] | None = None, out: TextIO | None = None,
         interactive: bool | None = None, styled: bool | None = None, notice: str | None = None) -> int:
    """Answer typed (or piped) lines until end of input or quit; returns the exit status.

    On a terminal: a banner, a prompt with line editing, and Ctrl-C or Ctrl-D at the prompt leave.
    Piped: no banner and no prompt; each line is echoed after "? ", then its reply, then a blank line.
    """
    out = out or sys.stdout
    interactive = sys.stdin.isatty() if interactive is None else interactive
    styled = use_styles(out.isatty(), os.environ) if styled is None else styled

    def say(command: Command) -> None:
        print(show(conversation.respond(command), styled), file=out)
        if command.name == "help" and styled:  # piped text has no marks to explain
            print(render("\n" + strings(conversation.lang)["legend"], styled), file=out)

    if not interactive:
        for line in lines if lines is not None else sys.stdin:
            command = parse(line)
            if command is None:
                continue
            if command.name == "quit":
                return 0
            print(f"{PROMPT}{line.strip()}", file=out)
            say(command)
            print(file=out, flush=True)
        return 0

    library = conversation.dialogue.answerer.library
    print(banner(len(library.articles), library.paragraph_count, notice, conversation.lang), file=out)
    _line_editing(lambda: [entry.name for entry in conversation.dialogue.summarizer.tags()])
    while True:
        print(file=out, flush=True)
        try:
            line = input(PROMPT)
        except (EOFError, KeyboardInterrupt):  # Ctrl-D, Ctrl-C: leave, the shell's prompt on a line of its own
            print(file=out)
            return 0
        command = parse(line)
        if command is None:
            continue
        if command.name == "quit":
            return 0
        try:
            say(command)
        except KeyboardInterrupt:  # Ctrl-C while answering: back to the prompt
            print(strings(conversation.lang)["interrupted"], file=out)
