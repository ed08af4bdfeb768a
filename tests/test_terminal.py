"""terminal.py: the terminal chat, from its pure parts (rendering, parsing) to a real pseudo-terminal.

The chat runs as a user runs it: ``python -m bot chat`` on a pty (so stdin and stdout are TTYs,
readline edits the line, ANSI styles show) and piped. Reads from the pty wait, with a deadline,
until the expected text appears, so a slow machine makes a test slower, not flaky.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import DEEPSEEK_URL, REPO, SMALL_CORPUS, write_files

from bot.config import Settings
from bot.engine.engine import Engine
from bot.search.library import Library
from bot.telegram.dialogue import Button, Dialogue, Reply
from bot.telegram.state import State
from bot.terminal import (
    QUOTE_BAR,
    Command,
    Conversation,
    banner,
    chat,
    complete,
    display_url,
    hint,
    parse,
    render,
    show,
    use_styles,
)

BOLD, UNDERLINE, DIM, RESET = "\x1b[1m", "\x1b[4m", "\x1b[2m", "\x1b[0m"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
QUESTION = "DeepSeek V3 的训练成本是多少？"


# --- rendering Telegram HTML for a terminal --------------------------------------------------

def test_plain_rendering_has_no_ansi_and_no_marks() -> None:
    text = render("<b>1.</b> <u>训练成本仅为<b>557.6万美元</b>。</u><i>Matched</i>", styled=False)
    assert text == "1. 训练成本仅为557.6万美元。Matched"


def test_on_a_tty_bold_is_bold_underline_underlined_and_italics_dim() -> None:
    text = render("<b>1.</b> plain <u>sentence</u> <i>meta</i>", styled=True)
    assert text == f"{BOLD}1.{RESET} plain {UNDERLINE}sentence{RESET} {DIM}meta{RESET}"


def test_bold_inside_underline_keeps_the_underline_after_it() -> None:
    text = render("<u>a<b>b</b>c</u>", styled=True)
    assert text == f"{UNDERLINE}a{RESET}{UNDERLINE}{BOLD}b{RESET}{UNDERLINE}c{RESET}"


def test_blockquote_lines_get_a_bar_that_is_never_styled() -> None:
    text = render("before\n<blockquote><u>one\ntwo</u></blockquote>\nafter", styled=True)
    assert text.split("\n") == ["before", f"{QUOTE_BAR}{UNDERLINE}one{RESET}", f"{QUOTE_BAR}{UNDERLINE}two{RESET}",
                                "after"]
    assert render("<blockquote>q</blockquote>tail", styled=False) == f"{QUOTE_BAR}q\ntail"


def test_a_link_is_its_text_then_the_url_without_a_text_fragment() -> None:
    html = f'<a href="{DEEPSEEK_URL}#:~:text=%E8%AE%AD%E7%BB%83">DeepSeek，搅了谁的局？</a>'
    assert render(html, styled=False) == f"DeepSeek，搅了谁的局？ <{DEEPSEEK_URL}>"
    assert display_url("https://x.org/a#section") == "https://x.org/a#section"


def test_an_icon_link_or_a_bare_url_shows_the_url_alone() -> None:
    assert render('• sentence <a href="https://x.org/a">↗</a>', styled=False) == "• sentence https://x.org/a"
    assert render('<a href="https://x.org/a">https://x.org/a</a>', styled=True) == "https://x.org/a"


def test_entities_are_unescaped() -> None:
    assert render("AT&amp;T &lt;b&gt; &quot;q&quot; &#x27;", styled=False) == "AT&T <b> \"q\" '"


def test_long_lines_are_left_to_the_terminal_to_wrap() -> None:
    line = "长" * 500
    assert render(f"<blockquote>{line}</blockquote>", styled=False) == QUOTE_BAR + line


def test_buttons_become_one_line_of_what_can_be_typed_next() -> None:
    reply = Reply("<b>answer</b>", ((Button("More ▸", "m:1:3", command="more"),
                                     Button("Summary", "s:1:0", command="summary 1–3"),
                                     Button("Source", url="https://x.org")),
                                    (Button("👍", "f:1:1"), Button("👎", "f:1:-1")),
                                    (Button("#iyiou", "tn:iyiou", command="/tag iyiou"),)))
    assert hint(reply) == "more · summary 1–3 · /tag iyiou"
    assert show(reply, styled=False) == "answer\nnext: more · summary 1–3 · /tag iyiou"
    assert show(Reply("just text"), styled=False) == "just text"


def test_continuation_messages_follow_the_first() -> None:
    assert show(Reply("one", extra=("two",)), styled=False) == "one\n\ntwo"


@pytest.mark.parametrize(("isatty", "environ", "styled"), [
    (True, {"TERM": "xterm-256color"}, True),
    (False, {"TERM": "xterm-256color"}, False),
    (True, {"TERM": "dumb"}, False),
    (True, {"TERM": "xterm", "NO_COLOR": "1"}, False),
])
def test_styles_only_where_a_terminal_shows_them(isatty: bool, environ: dict[str, str], styled: bool) -> None:
    assert use_styles(isatty, environ) is styled


def test_banner_counts_in_english_and_says_how_to_leave() -> None:
    assert banner(1, 1).startswith("articlebot · 1 article (1 paragraph)\n")
    assert banner(3, 20).startswith("articlebot · 3 articles (20 paragraphs)\n")
    assert "/help" in banner(3, 20) and "quit" in banner(3, 20)
    assert banner(0, 0, "No articles in corpus/.").startswith("No articles in corpus/.\n")


# --- typed lines → commands ---------------------------------------------------------------------

@pytest.mark.parametrize(("line", "command"), [
    ("/help", Command("help")),
    ("help", Command("help")),
    ("/tags", Command("tags")),
    ("/tags 2", Command("tags", "2")),
    ("/tag iyiou", Command("tag", "iyiou")),
    ("/TAG  AI ", Command("tag", "AI")),
    ("/tag", Command("tag")),
    ("/latest", Command("latest")),
    ("/latest 3", Command("latest", "3")),
    ("/source DeepSeek", Command("source", "DeepSeek")),
    ("/about", Command("about")),
    ("more", Command("more")),
    ("/more", Command("more")),
    ("MORE", Command("more")),
    ("back", Command("back")),
    ("summary 2", Command("summary", "2")),
    ("/summary 2", Command("summary", "2")),
    ("summary", Command("summary")),
    ("quit", Command("quit")),
    ("exit", Command("quit")),
    ("/quit", Command("quit")),
    ("/exit", Command("quit")),
    ("/ask 英伟达股价", Command("ask", "英伟达股价")),
    ("/nonsense here", Command("unknown", "/nonsense")),
    ("/", Command("unknown", "/")),
    (QUESTION, Command("ask", QUESTION)),
    ("summary of the earnings call", Command("ask", "summary of the earnings call")),
    ("summary bitcoin", Command("ask", "summary bitcoin")),
    ("summary 1–3", Command("summary", "1–3")),
    ("more about DeepSeek", Command("ask", "more about DeepSeek")),
    ("  Comcast  ", Command("ask", "Comcast")),
])
def test_parse(line: str, command: Command) -> None:
    assert parse(line) == command


@pytest.mark.parametrize("line", ["", "   ", "\n"])
def test_blank_lines_are_no_command(line: str) -> None:
    assert parse(line) is None


def test_tab_completes_commands_and_tag_names() -> None:
    assert complete("/ta") == ["/tags", "/tag"]
    assert complete("su") == ["summary"]
    assert complete("/tag i", ["iyiou", "AI", "Intel"]) == ["/tag iyiou", "/tag Intel"]
    assert complete("DeepSeek V") == []


# --- a conversation, called directly --------------------------------------------------------------

@pytest.fixture
def conversation(small_library: Library) -> Conversation:
    dialogue = Dialogue(Engine.over(small_library), State(":memory:"), top_k=1,
                        surface="terminal")
    return Conversation(dialogue)


def say(conversation: Conversation, line: str) -> str:
    command = parse(line)
    assert command is not None
    return show(conversation.respond(command), styled=False)


def test_more_and_back_turn_the_pages_of_the_last_answer(conversation: Conversation) -> None:
    first = say(conversation, "英伟达股价")
    assert first.startswith("1. ") and first.endswith("next: more · summary 1")
    second = say(conversation, "more")
    assert second.startswith("2. ") and "next: back · summary 2" in second
    assert say(conversation, "more") == "That was all of it: there is nothing more."
    assert say(conversation, "back").startswith("1. ")


def test_summary_n_summarizes_the_article_of_quote_n(conversation: Conversation) -> None:
    say(conversation, "英伟达股价")
    say(conversation, "more")
    summary = say(conversation, "summary 2")
    assert "summary" in summary.splitlines()[-1].lower()
    assert say(conversation, "summary 3") == "There is no quote 3 to summarize: the last answer showed quotes 1–2."
    assert say(conversation, "summary 1–2").startswith("Usage: summary N")
    assert say(conversation, "summary").startswith("Usage: summary N")


def test_summary_n_is_the_article_quote_n_was_taken_from_even_after_a_reload(
        conversation: Conversation, corpus_dir: Path, make_settings: Callable[..., Settings]) -> None:
    say(conversation, "Comcast")
    (corpus_dir / "news" / "comcast.en.md").unlink()
    dialogue = conversation.dialogue
    dialogue.swap(Engine.over(Library.open(make_settings(corpus_dir), tokenizer=dialogue.answerer.library.tokenizer)))
    assert say(conversation, "summary 1") == ("“Why Comcast Stock Lacks the Moat Charlie Munger Demands” is no "
                                              "longer among the articles I have read, so I cannot summarize it.")


def test_more_and_summary_before_any_question_say_what_to_do(conversation: Conversation) -> None:
    assert say(conversation, "more").startswith("Ask a question first")
    assert say(conversation, "summary 1").startswith("Ask a question first")


def test_help_and_about_leave_the_pages_where_they_were(conversation: Conversation) -> None:
    say(conversation, "英伟达股价")
    say(conversation, "/help")
    say(conversation, "/about")
    assert say(conversation, "more").startswith("2. ")


def test_a_tag_opens_its_digest_and_is_never_searched_as_a_question(conversation: Conversation) -> None:
    digest = say(conversation, "/tag iyiou")
    assert digest.startswith("#iyiou · 1 article\n")
    assert "DeepSeek，搅了谁的局？" in digest
    assert "Nothing" not in digest


def test_an_unknown_command_points_to_help(conversation: Conversation) -> None:
    assert say(conversation, "/nonsense") == "Unknown command /nonsense. /help lists what works here."


def test_usage_lines(conversation: Conversation) -> None:
    assert say(conversation, "/tag").startswith("Usage: /tag NAME")
    assert say(conversation, "/source").startswith("Usage: /source QUERY")
    assert say(conversation, "/latest x").startswith("Usage: /latest [N]")
    assert say(conversation, "/latest 0").startswith("Usage: /latest [N]")


def test_latest_lists_the_newest_articles(conversation: Conversation) -> None:
    latest = say(conversation, "/latest 2")
    assert latest.startswith("Latest articles\n\n1. ")
    assert "\n2. " in latest and "\n3. " not in latest


def test_a_follow_up_names_the_question_it_follows(conversation: Conversation) -> None:
    say(conversation, QUESTION)
    reply = say(conversation, "那 R1 呢？")
    assert reply.startswith(f"(following up on “{QUESTION}”)\n\n1. DeepSeek，搅了谁的局？")


def test_piped_lines_are_echoed_and_answered_one_by_one(conversation: Conversation) -> None:
    out = io.StringIO()
    status = chat(conversation, ["英伟达股价\n", "\n", "/tag iyiou\n", "quit\n", "Comcast\n"], out,
                  interactive=False, styled=False)
    assert status == 0
    blocks = out.getvalue().split("\n\n? ")
    assert blocks[0].startswith("? 英伟达股价\n1. ")
    assert blocks[1].startswith("/tag iyiou\n#iyiou · 1 article")
    assert len(blocks) == 2 and "Comcast" not in out.getvalue()
    assert out.getvalue().endswith("\n\n")
    assert not ANSI.search(out.getvalue())


# --- the real thing: python -m bot chat on a pseudo-terminal, and piped --------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small corpus, indexed once for every chat of this module."""
    root = tmp_path_factory.mktemp("terminal")
    write_files(root / "corpus", dict(SMALL_CORPUS))
    (root / "empty").mkdir()
    subprocess.run(chat_argv(root, "index"), cwd=REPO, env=chat_env(), capture_output=True, timeout=180, check=True)
    return root


def chat_argv(root: Path, command: str = "chat", corpus: str = "corpus") -> list[str]:
    return [sys.executable, "-m", "bot", command, "--corpus", str(root / corpus), "--cache-dir", str(root / "cache")]


def chat_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_")) and k != "NO_COLOR"}
    env.update(TERM="xterm", LANG="C.UTF-8", PYTHONIOENCODING="utf-8", PYTHONFAULTHANDLER="1")
    return env


def _as_a_shell_starts_it() -> None:
    """Ctrl-C as a terminal's foreground program gets it. A test run started in the background by a
    non-interactive shell (a CI script's ``cmd &``) has SIGINT ignored, and a child inherits that: the
    chat would then never see Ctrl-C, which no user at a terminal ever meets."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Pty:
    """A process whose stdin, stdout and stderr are a pseudo-terminal, as when a user runs it."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))  # rows, columns: no wrapping
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=chat_env(),
                                        start_new_session=True, preexec_fn=_as_a_shell_starts_it)
        os.close(slave)
        self.shown = b""
        self.read_to = 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the child exited and closed its side
            return False
        self.shown += chunk
        return bool(chunk)

    def expect(self, text: str, timeout: float = 90) -> str:
        """Read until ``text`` appears after what earlier calls consumed; returns what came up to its end."""
        wanted = text.encode()
        deadline = time.monotonic() + timeout
        while wanted not in self.shown[self.read_to:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.5)):
                if wanted in self.shown[self.read_to:]:
                    break
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n"
                                     f"{self.shown[self.read_to:].decode(errors='replace')}")
        end = self.shown.index(wanted, self.read_to) + len(wanted)
        seen, self.read_to = self.shown[self.read_to:end], end
        return seen.decode(errors="replace").replace("\r\n", "\n")

    def prompt(self) -> str:
        """Everything up to the next prompt (a blank line, then "? ")."""
        return self.expect("\r\n\r\n? ")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def wait(self, timeout: float = 60) -> int | None:
        """The exit status, or None if the process still runs after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)  # keep draining, or a full pty would block the child
        return self.process.poll()

    def exited(self, timeout: float = 60) -> int:
        """The exit status; a process still running after ``timeout`` seconds fails the test with every
        thread's stack (faulthandler, on in ``chat_env``), so a hang says where it hangs."""
        status = self.wait(timeout)
        if status is None:
            self.process.send_signal(signal.SIGABRT)
            self.wait(5)
            raise AssertionError("the chat did not exit; its threads were at:\n"
                                 + self.shown[self.read_to:].decode(errors="replace")[-6000:])
        return status

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def terminal(workdir: Path) -> Iterator[Pty]:
    pty = Pty(chat_argv(workdir))
    yield pty
    pty.close()


def test_a_session_on_a_terminal(terminal: Pty) -> None:
    shown = terminal.prompt()
    assert "articlebot · 4 articles" in shown and "/help" in shown

    terminal.type("/help")
    help_text = terminal.prompt()
    for line in ("/tags", "/tag NAME", "/latest [N]", "/source QUERY", "/about", "more", "summary N", "quit"):
        assert line in help_text
    assert "inline" not in help_text and "/settings" not in help_text and "groups" not in help_text
    assert f"{BOLD}bold{RESET}" in help_text and f"{UNDERLINE}underline{RESET}" in help_text

    terminal.type(QUESTION)
    answer = terminal.prompt()
    assert f"{BOLD}1.{RESET} DeepSeek，搅了谁的局？ <{DEEPSEEK_URL}>" in answer
    assert UNDERLINE in answer and f"{BOLD}DeepSeek{RESET}" in answer and "557.6万美元" in answer
    assert QUOTE_BAR in answer
    assert "next: summary 1" in answer

    terminal.type("/tag iyiou")
    digest = terminal.prompt()
    assert f"{BOLD}#iyiou{RESET} · 1 article" in digest and "Nothing in the articles" not in digest

    terminal.type("那 R1 呢？")
    follow_up = terminal.prompt()
    assert f"(following up on “{QUESTION}”)" in follow_up and "R1" in follow_up

    terminal.type("\x1b[A\x1b[A")  # up twice: the tag command again, from readline's history
    again = terminal.prompt()
    assert "^[[A" not in again and "#iyiou" in again

    terminal.type("/abo\t")  # tab completes the command
    assert "I have read 4 articles" in terminal.prompt()

    terminal.type("quit")
    assert terminal.exited() == 0
    assert b"Traceback" not in terminal.shown


def test_ctrl_d_at_the_prompt_leaves_cleanly(terminal: Pty) -> None:
    terminal.prompt()
    os.write(terminal.master, b"\x04")
    assert terminal.exited() == 0
    assert b"Traceback" not in terminal.shown


def test_ctrl_c_at_the_prompt_leaves_cleanly(terminal: Pty) -> None:
    terminal.prompt()
    # What Ctrl-C sends. Python's readline notices a signal only when it interrupts its wait for
    # a key, so one sent in the instant between the prompt and that wait (no person is that quick)
    # is noticed at the next one: sent again if the first went unnoticed.
    for _ in range(10):
        terminal.process.send_signal(signal.SIGINT)
        if terminal.process.poll() is None and terminal.wait(timeout=2) is None:
            continue
        break
    assert terminal.exited() == 0
    assert b"Traceback" not in terminal.shown
    assert b"KeyboardInterrupt" not in terminal.shown


def test_an_empty_corpus_says_so_in_the_banner(workdir: Path) -> None:
    pty = Pty(chat_argv(workdir, corpus="empty"))
    try:
        shown = pty.prompt()
        assert f"No articles in {workdir / 'empty'}/ (the folder holds no *.md files)." in shown
        assert "Point --corpus at a folder of Markdown articles." in shown
        pty.type("/quit")
        assert pty.exited() == 0
    finally:
        pty.close()


def test_piped_chat_answers_one_line_at_a_time_in_plain_text(workdir: Path) -> None:
    result = subprocess.run(chat_argv(workdir), cwd=REPO, env=chat_env(), capture_output=True, text=True,
                            timeout=180, check=False, input=f"{QUESTION}\n\n/tag iyiou\n那 R1 呢？\n/nonsense\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert not ANSI.search(out) and "»" not in out and "«" not in out
    assert "articlebot ·" not in out  # no banner
    blocks = out.rstrip("\n").split("\n\n? ")
    assert [b.split("\n", 1)[0].removeprefix("? ") for b in blocks] == [QUESTION, "/tag iyiou", "那 R1 呢？",
                                                                        "/nonsense"]
    assert blocks[0].split("\n")[1] == f"1. DeepSeek，搅了谁的局？ <{DEEPSEEK_URL}>"
    assert "#iyiou · 1 article" in blocks[1]
    assert f"(following up on “{QUESTION}”)" in blocks[2]
    assert blocks[3].endswith("Unknown command /nonsense. /help lists what works here.")
