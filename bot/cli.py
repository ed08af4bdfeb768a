"""The composition root: ``articlebot <command>`` wires settings, library, answers and replies.

Errors are converted here: an ``ArticlebotError`` prints one clean line and exits 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.config import SETTINGS, Settings, load_settings
from bot.engine.engine import Engine
from bot.errors import ArticlebotError, ConfigError, CorpusError, QuestionError
from bot.search.compiled import CompiledWhenReady
from bot.search.evaluation import Question, evaluate, per_question_lines, read_questions
from bot.search.index import Scorer
from bot.search.library import Library, Passage
from bot.search.tokens import Tokenizer
from bot.summaries.catalog import DigestItem, Summarizer
from bot.telegram.replies import answer_text, plural, title_line


def _progress_bar() -> Callable[[int, int], None]:
    """A tqdm bar on stderr that appears only when there is work to show (tqdm is imported only then:
    a start on an unchanged corpus never pays for it)."""
    bar: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bar:
            if done >= total:
                return
            from tqdm import tqdm

            # initial: files unchanged since the last build don't count towards the rate and ETA.
            bar.append(tqdm(total=total, initial=done, unit="file", desc="indexing", file=sys.stderr,
                            leave=False, disable=None))  # None: only on a terminal, not into logs or pipes
        bar[0].n = done
        bar[0].refresh()
        if done >= total:
            bar[0].close()

    return update


def open_library(settings: Settings, quiet: bool = False, note_skipped: bool = True,
                 scorer: Scorer | None = None) -> Library:
    """The corpus's library (indexed now if the cache is stale); a corpus that is a file or is
    missing is a ConfigError, a folder without articles is not (``no_articles`` says so)."""
    for folder in settings.corpus:
        if folder.is_file():
            raise ConfigError(f"corpus {folder} is a file; --corpus takes a folder of Markdown articles")
    missing = [str(folder) for folder in settings.corpus if not folder.is_dir()]
    if missing:
        raise ConfigError(f"corpus folder not found: {', '.join(missing)} (check --corpus or ARTICLEBOT_CORPUS)")
    tokenizer = Tokenizer()
    # jieba's dictionary loads while the library opens (mostly waiting on the file system),
    # so the first question does not wait for it afterwards.
    threading.Thread(target=tokenizer.warm, daemon=True).start()
    library = Library.open(settings, progress=None if quiet else _progress_bar(), tokenizer=tokenizer, scorer=scorer)
    unreadable = [error for error in library.report.skipped if error.is_error]
    if unreadable and not quiet and note_skipped:  # drafts and the like are left out on purpose: no news
        print(f"note: {plural(len(unreadable), 'file')} cannot be read; `articlebot index` lists why",
              file=sys.stderr)
    return library


SKIP_LABELS = {"error": "cannot be read", "empty": "without text", "draft": "drafts",
               "future": "to be published later", "expired": "expired", "headless": "headless bundles",
               "unrendered": "not rendered on the site", "resource": "page bundle resources"}
"""Why files are not indexed, in the order they are listed: what to fix first, then what is left out on purpose."""


def skipped_by_kind(skipped: Sequence[CorpusError]) -> list[tuple[str, list[CorpusError]]]:
    """Skipped files grouped under their reason, in SKIP_LABELS order."""
    groups: dict[str, list[CorpusError]] = {}
    for error in skipped:
        groups.setdefault(error.kind if error.kind in SKIP_LABELS else "error", []).append(error)
    return [(SKIP_LABELS[kind], groups[kind]) for kind in SKIP_LABELS if kind in groups]


def no_articles(library: Library, settings: Settings) -> str | None:
    """Why there is nothing to answer from (for a newcomer whose --corpus points at the wrong
    folder), or None when there are articles."""
    if library.articles:
        return None
    folders = ", ".join(str(folder).rstrip("/") + "/" for folder in settings.corpus)
    skipped = len(library.report.skipped)
    if skipped:
        return f"No articles in {folders}: {plural(skipped, 'file')} skipped (`articlebot index` lists why)."
    holds = "the folder holds" if len(settings.corpus) == 1 else "the folders hold"
    return f"No articles in {folders} ({holds} no *.md files). Point --corpus at a folder of Markdown articles."


def _with_articles(library: Library, settings: Settings) -> Library:
    """``library``, or a ConfigError saying it has no articles: a command that needs some stops there."""
    notice = no_articles(library, settings)
    if notice:
        raise ConfigError(notice)
    return library


def compiled_in_background(settings: Settings) -> CompiledWhenReady:
    """The scorer of commands that answer many questions: numpy's until the compiled search is ready
    (numba's import and loading the compiled code take ~0.5 s, compiling it the first time 12–15 s),
    then the compiled one. One-shot commands never load numba."""
    scorer = CompiledWhenReady()
    threading.Thread(target=scorer.load, args=(settings.cache_dir,), daemon=True).start()
    return scorer


def engine_for(settings: Settings, quiet: bool = False, require_articles: bool = True,
               scorer: Scorer | None = None) -> Engine:
    library = open_library(settings, quiet, scorer=scorer)
    if require_articles:
        _with_articles(library, settings)
    return Engine.over(library, settings)


# --- commands -------------------------------------------------------------------------

def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answer one question."""
    answerer = engine_for(settings, quiet=args.json).answerer
    question = " ".join(args.question)
    top = args.top or settings.top_k
    if args.json:
        try:
            answer = answerer.answer(question, k=top, per_article=args.per_article)
        except QuestionError as error:
            print(json.dumps({"question": question, "error": str(error), "hits": []}, ensure_ascii=False))
            return 1
        hits = [{"title": q.article.title, "date": q.article.date_text, "tags": list(q.article.tags),
                 "source_url": q.article.source_url, "path": q.article.path,
                 "paragraph": q.paragraph.position, "excerpt": q.excerpt, "text": q.paragraph.text,
                 "sentence": q.sentence_text, "matched_terms": list(q.matched_terms),
                 "score": round(q.score, 4), "relevance": round(q.relevance, 3)} for q in answer.quotes]
        print(json.dumps({"question": question, "hits": hits, "suggestions": list(answer.suggestions)},
                         ensure_ascii=False, indent=2))
        return 0
    print(answer_text(answerer.answer(question, k=top, per_article=args.per_article)))
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    """Chat in the terminal as on Telegram: questions and follow-ups, more, summary N, /tags, /tag NAME,
    /latest, /source, /about, /help; piped, each line is answered in turn. quit or Ctrl-D leaves."""
    from bot.telegram.dialogue import Dialogue
    from bot.telegram.state import State
    from bot.terminal import Conversation, chat

    engine = engine_for(settings, require_articles=False, scorer=compiled_in_background(settings))
    notice = no_articles(engine.library, settings)
    if notice and not sys.stdin.isatty():  # a terminal's banner says it
        print(f"articlebot: {notice}", file=sys.stderr)
    # State in memory: the terminal keeps nothing on disk, and buttons need no restart to survive.
    dialogue = Dialogue(engine, State(":memory:"), settings.top_k,
                        surface="terminal")
    return chat(Conversation(dialogue), notice=notice)


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """Build or refresh the index cache and report what was loaded and skipped."""
    started = time.perf_counter()
    library = open_library(settings, note_skipped=False)
    seconds = time.perf_counter() - started
    report = library.report
    state = "built" if library.rebuilt else "unchanged, loaded from cache"
    print(f"{plural(len(library.articles), 'article')}, {plural(library.paragraph_count, 'paragraph')} "
          f"({state}) in {seconds:.1f} s")
    print(f"cache: {settings.cache_dir}")
    empty = no_articles(library, settings)
    for notice in report.notices:
        if not (empty and notice.reason == "folder holds no *.md files"):  # said below, with what to do
            print(f"note: {notice}")
    if empty:
        print(empty)
    if report.skipped:
        print(f"{plural(len(report.skipped), 'file')} skipped:")
        for label, errors in skipped_by_kind(report.skipped):
            print(f"  {label} ({len(errors)}):")
            for error in errors:
                print(f"    {error}")
    return 0


SHOWN = 3
"""Quotes a chat gets (the /settings default): what ``eval`` counts as shown."""


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Measure retrieval on a question set: answer recall@1/5/20, MRR@10, latency."""
    questions = read_questions(args.questions)
    answerer = engine_for(settings, quiet=args.json).answerer
    out: TextIO | None = args.per_question.open("w", encoding="utf-8") if args.per_question else None

    def record(question: Question, passages: list[Passage], rank: int | None) -> None:
        if out:
            for line in per_question_lines(question, passages, rank):
                out.write(line + "\n")

    def retrieve(question: str, k: int) -> list[Passage]:
        try:
            return answerer.retrieve(question, k)
        except QuestionError:
            return []

    def show(question: str) -> list[str]:
        try:
            return [quote.excerpt for quote in answerer.answer(question, k=SHOWN).quotes]
        except QuestionError:
            return []

    try:
        result = evaluate(questions, retrieve, record, show, SHOWN)
    finally:
        if out:
            out.close()
    figures = result.as_json()
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{plural(int(figures['questions']), 'question')} over "
              f"{plural(answerer.library.paragraph_count, 'paragraph')}")
        for key in ("recall@1", "recall@5", "recall@20", "mrr@10"):
            print(f"  {key:<10} {figures[key]:.3f}")
        print(f"  query ms   p50 {figures['query_ms_p50']:.2f}  p99 {figures['query_ms_p99']:.2f}")
        print(f"  as shown (one quote per article, after the relevance floor and the filler rule, {SHOWN} a chat):")
        print(f"    shown@1    {figures['shown@1']:.3f}\n    shown@{SHOWN}    {figures[f'shown@{SHOWN}']:.3f}")
        print(f"    floor hides a first passage that answers: {figures['floor_hides']:.3f}")
        print(f"    answer ms  p50 {figures['answer_ms_p50']:.2f}  p99 {figures['answer_ms_p99']:.2f}")
    return 0


def _summarizer(settings: Settings, quiet: bool = False) -> Summarizer:
    return engine_for(settings, quiet).summarizer


def _article_json(item: DigestItem) -> dict[str, object]:
    article, summary = item
    return {"title": article.title, "date": article.date_text, "path": article.path,
            "source_url": article.source_url, "tags": list(article.tags),
            "summary": summary.text, "summary_source": summary.source,
            "summary_sentences": list(summary.sentences)}


def _article_text(number: int, item: DigestItem) -> str:
    article, summary = item
    label = " (author's summary)" if summary.source == "author" else ""
    return (f"{number}. {title_line(article.title, article.date_text, article.tags)}\n   {summary.text}{label}\n"
            f"   → {article.source_url or article.path}")


def cmd_tags(args: argparse.Namespace, settings: Settings) -> int:
    """List tags and the top topics with their article counts."""
    entries = _summarizer(settings, quiet=args.json).tags()
    if args.json:
        print(json.dumps({"tags": [{"name": e.name, "articles": e.total, "kind": e.kind} for e in entries]},
                         ensure_ascii=False, indent=2))
        return 0
    for entry in entries:
        print(f"{entry.total:>5}  {entry.name}" + ("  (topic)" if entry.kind == "topic" else ""))
    return 0


def cmd_tag(args: argparse.Namespace, settings: Settings) -> int:
    """A tag's or topic's articles, newest first, each with its summary (forgiving names)."""
    name = " ".join(args.name)
    digest = _summarizer(settings, quiet=args.json).digest(name, page=args.page, per_page=args.per_page)
    if args.json:
        print(json.dumps({"tag": digest.name, "kind": digest.kind, "total": digest.total, "page": digest.page,
                          "pages": digest.pages,
                          "overview": [{"sentence": o.text, "title": o.article.title, "path": o.article.path,
                                        "source_url": o.article.source_url} for o in digest.overview],
                          "articles": [_article_json(item) for item in digest.items],
                          "suggestions": list(digest.suggestions)}, ensure_ascii=False, indent=2))
        return 0 if digest.items else 1
    if not digest.items:
        hint = f" Try: {', '.join(digest.suggestions)}" if digest.suggestions else ""
        print(f"No tag, topic or article matches “{name}”.{hint}")
        return 1
    kind = {"tag": "tag", "topic": "topic", "search": "articles mentioning"}.get(digest.kind, digest.kind)
    print(f"{kind} {digest.name}: {plural(digest.total, 'article')} (page {digest.page} of {digest.pages})")
    for sentence, article in digest.overview:
        print(f"  • {sentence}  [{article.title}]")
    first = (digest.page - 1) * args.per_page + 1
    print("\n".join(_article_text(n, item) for n, item in enumerate(digest.items, first)))
    return 0


def cmd_latest(args: argparse.Namespace, settings: Settings) -> int:
    """The newest articles with their summaries."""
    items = _summarizer(settings, quiet=args.json).latest(args.n)
    if args.json:
        print(json.dumps({"articles": [_article_json(item) for item in items]}, ensure_ascii=False, indent=2))
    else:
        print("\n".join(_article_text(n, item) for n, item in enumerate(items, 1)))
    return 0


def cmd_summarize(args: argparse.Namespace, settings: Settings) -> int:
    """Summarize one article (by path, or the best match for a query), score summaries with --eval, or check
    every tag's summaries with --readability."""
    if args.eval:
        from bot.summaries.rouge import evaluate_summaries

        result = evaluate_summaries(args.eval, budget=args.budget, cache_dir=settings.cache_dir)
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
            return 0
        print(f"{plural(result['articles'], 'article')}, budget {plural(result['budget'], 'character')}")
        print(f"  {'system':<20} {'ROUGE-1':>8} {'ROUGE-2':>8} {'ROUGE-L':>8}")
        for name, scores in result["systems"].items():
            print(f"  {name:<20} {scores['rouge1']:>8.3f} {scores['rouge2']:>8.3f} {scores['rougeL']:>8.3f}")
        for note in result.get("notes", []):
            print(f"note: {note}")
        return 0
    if args.readability:
        from bot.summaries.rouge import readability, readability_table

        checked = readability(_summarizer(settings, quiet=args.json))
        if args.json:
            print(json.dumps({"sentences": checked.sentences, "summaries": checked.summaries,
                              "shares": checked.shares(), "examples": checked.examples}, ensure_ascii=False))
        else:
            print(readability_table({"share of summary sentences": checked}))
        return 0
    if not args.target:
        raise ConfigError("summarize needs a PATH or a QUERY (or --eval DIR, or --readability)")
    target = " ".join(args.target)
    summarizer = _summarizer(settings, quiet=args.json)
    item = summarizer.summarize_path(target) or summarizer.best_for(target)
    if item is None:
        print(f"No article matches “{target}”.")
        return 1
    print(json.dumps(_article_json(item), ensure_ascii=False, indent=2) if args.json else _article_text(1, item))
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """What readers asked and missed, from the bot's state file: questions per day, latency p50/p99,
    the questions that found nothing or got 👎 most, and the tags opened most (as /stats shows admins)."""
    from bot.telegram.report import build_report, report_text
    from bot.telegram.state import open_state

    if not settings.state_url and not settings.state_path.is_file():
        raise ConfigError(f"no state file at {settings.state_path}: `articlebot telegram` writes it "
                          "(set state_path or ARTICLEBOT_STATE to where the bot runs, or state_url)")
    state = open_state(settings)
    try:
        report = build_report(state, days=args.days)
    finally:
        state.close()
    print(json.dumps(report.as_json(), ensure_ascii=False, indent=2) if args.json else report_text(report))
    return 0


def cmd_telegram(args: argparse.Namespace, settings: Settings) -> int:
    """Run the Telegram bot: long polling by default, or a webhook with --webhook URL."""
    from bot.telegram.app import build_application, check_token, configure_logging, run

    token = check_token(settings.telegram_token)
    from bot.engine.reloader import Reloader
    from bot.telegram.dialogue import Dialogue
    from bot.telegram.state import open_state
    from bot.telegram.webhook import corpus_health

    configure_logging(token, settings.log_level, settings.log_format)
    engine = engine_for(settings, require_articles=False, scorer=compiled_in_background(settings)).warm()
    notice = no_articles(engine.library, settings)
    if notice:  # the bot starts anyway: articles added to the folder are picked up (setting watch)
        print(f"articlebot: {notice}", file=sys.stderr)
    state = open_state(settings)
    dialogue = Dialogue(engine, state, settings.top_k)
    # replicas sharing a state must register one secret: without one configured, the first one stored
    secret = settings.telegram_webhook_secret or (state.shared_value("webhook_secret", secrets.token_urlsafe(32))
                                                  if state.shared else secrets.token_urlsafe(32))
    reloader = Reloader(settings, engine.library, dialogue.swap).start(watch=settings.watch)
    application = build_application(settings, dialogue, reloader=reloader)
    try:
        run(application, webhook=args.webhook, listen=args.listen, port=args.port,
            secret=secret, path=settings.webhook_path,
            health=lambda: corpus_health(dialogue.answerer.library))  # read per request: reloads show
    finally:
        reloader.stop()
    return 0


# --- parser ---------------------------------------------------------------------------

def positive(text: str) -> int:
    """argparse type of counts and sizes: a whole number, 1 or more (0 quotes or -3 articles mean nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more (got {text})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {value})")
    return value


class _Parser(argparse.ArgumentParser):
    """The top-level parser: an option given without a command is named as unrecognized.

    Plain argparse says only that a COMMAND is required, which hides the typo (``articlebot --wrong``).
    """

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: Any = None) -> tuple[Any, list[str]]:
        argv = list(sys.argv[1:] if args is None else args)
        commands = {name for action in self._actions if isinstance(action, argparse._SubParsersAction)
                    for name in action.choices}
        options = [a for a in argv if a.startswith("-")]
        if options and not commands & set(argv) and not {"-h", "--help"} & set(argv):
            self.error(f"unrecognized arguments: {' '.join(options)}")
        return super().parse_known_args(argv, namespace)


class _Subcommand(argparse.ArgumentParser):
    """A subcommand's parser: an unknown argument is its own error, shown under its own usage.

    Plain argparse hands a subcommand's leftovers back to the top-level parser, whose error shows
    the top-level usage, which does not list the option the user got wrong.
    """

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: Any = None) -> tuple[Any, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", action="append", type=Path, metavar="DIR",
                        help="folder of Markdown articles (repeatable; default ./corpus or ARTICLEBOT_CORPUS)")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML file of settings")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="where the index cache lives")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="articlebot", description="Answers questions about Markdown articles, quoting them.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Subcommand)

    ask = commands.add_parser("ask", help="answer one question", description=cmd_ask.__doc__)
    ask.add_argument("question", nargs="+", help="the question")
    ask.add_argument("--json", action="store_true", help="print the hits as JSON")
    ask.add_argument("--top", type=positive, metavar="K", help="how many quotes (default: ARTICLEBOT_TOP_K)")
    ask.add_argument("--per-article", type=positive, default=1, metavar="N", help="quotes allowed from one article")
    ask.set_defaults(run=cmd_ask)

    chat = commands.add_parser("chat", help="chat in the terminal (or pipe questions in)",
                               description=cmd_chat.__doc__)
    chat.set_defaults(run=cmd_chat)

    index = commands.add_parser("index", help="build or refresh the index cache", description=cmd_index.__doc__)
    index.set_defaults(run=cmd_index)

    ev = commands.add_parser("eval", help="measure retrieval quality", description=cmd_eval.__doc__)
    ev.add_argument("--questions", type=Path, required=True, metavar="FILE", help="questions.jsonl")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")
    ev.add_argument("--per-question", type=Path, metavar="OUT", help="write each question's top-20 hits (JSONL)")
    ev.set_defaults(run=cmd_eval)

    tags = commands.add_parser("tags", help="list tags and topics", description=cmd_tags.__doc__)
    tags.add_argument("--json", action="store_true", help="print JSON")
    tags.set_defaults(run=cmd_tags)

    tag = commands.add_parser("tag", help="a tag's or topic's articles with summaries", description=cmd_tag.__doc__)
    tag.add_argument("name", nargs="+", help="tag or topic name (case, script and small typos forgiven)")
    tag.add_argument("--json", action="store_true", help="print JSON")
    tag.add_argument("--page", type=positive, default=1, metavar="N", help="page number")
    tag.add_argument("--per-page", type=positive, default=10, metavar="N", help="articles per page")
    tag.set_defaults(run=cmd_tag)

    latest = commands.add_parser("latest", help="the newest articles", description=cmd_latest.__doc__)
    latest.add_argument("n", nargs="?", type=positive, default=10, metavar="N", help="how many (default 10)")
    latest.add_argument("--json", action="store_true", help="print JSON")
    latest.set_defaults(run=cmd_latest)

    summarize = commands.add_parser("summarize", help="summarize an article, or evaluate summaries",
                                    description=cmd_summarize.__doc__)
    summarize.add_argument("target", nargs="*", metavar="PATH|QUERY", help="article file or a query")
    summarize.add_argument("--eval", type=Path, metavar="DIR",
                           help="score summaries against the articles' 摘要 sections (ROUGE)")
    summarize.add_argument("--budget", type=positive, default=150, metavar="CHARS", help="summary length for --eval")
    summarize.add_argument("--readability", action="store_true",
                           help="check every tag's summaries of the corpus: questions, sentences pointing back or "
                                "left hanging, site text, fragments")
    summarize.add_argument("--json", action="store_true", help="print JSON")
    summarize.set_defaults(run=cmd_summarize)

    report = commands.add_parser("report", help="what readers asked and missed", description=cmd_report.__doc__)
    report.add_argument("--days", type=positive, default=7, metavar="N",
                        help="days to cover, today included (default 7)")
    report.add_argument("--json", action="store_true", help="print JSON")
    report.set_defaults(run=cmd_report)

    telegram = commands.add_parser(
        "telegram", help="run the Telegram bot", description=cmd_telegram.__doc__,
        epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    telegram.add_argument("--webhook", metavar="URL", help="public HTTPS URL Telegram should post updates to")
    telegram.add_argument("--listen", default="127.0.0.1", metavar="HOST", help="webhook listen address")
    telegram.add_argument("--port", type=int, default=8443, metavar="N", help="webhook listen port")
    telegram.set_defaults(run=cmd_telegram)

    for sub in commands.choices.values():
        _common(sub)
    return parser


def settings_help() -> str:
    """Every setting with its environment variable, for --help."""
    lines = ["settings (environment variable, or the same name in a --config TOML file):"]
    for setting in SETTINGS:
        default = "" if setting.secret or setting.default is None else f" [default: {_show(setting.default)}]"
        lines.append(f"  {setting.env:<32} {setting.help}{default}")
    return "\n".join(lines)


def _show(value: object) -> str:
    if isinstance(value, frozenset):
        return ",".join(map(str, sorted(value))) or "none"
    if isinstance(value, tuple):
        return ":".join(map(str, value))
    return str(value)


def settings_from(args: argparse.Namespace) -> Settings:
    settings = load_settings(config_file=args.config)
    return settings.with_overrides(corpus=tuple(args.corpus) if args.corpus else None, cache_dir=args.cache_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        return int(args.run(args, settings))
    except ArticlebotError as error:
        print(f"articlebot: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\narticlebot: interrupted (an index being built is discarded; the last complete one is kept)",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
