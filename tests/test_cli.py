"""cli.py: ``python -m bot …`` run for real in a subprocess, over corpora and caches in tmp dirs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DEEPSEEK_URL, SMALL_CORPUS, write_files

from bot.cli import main
from bot.search.articles import load_article, read_text

ASK_HIT_KEYS = {"title", "date", "tags", "source_url", "path", "paragraph", "excerpt", "score"}
EVAL_KEYS = {"questions", "recall@1", "recall@5", "recall@20", "mrr@10", "query_ms_p50", "query_ms_p99",
             "shown@1", "shown@3", "floor_hides", "answer_ms_p50", "answer_ms_p99"}
SUBCOMMANDS = ["ask", "chat", "index", "eval", "tags", "tag", "latest", "summarize", "report", "telegram"]

Run = Callable[..., subprocess.CompletedProcess[str]]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any articlebot or Telegram setting the developer may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with the small corpus, one broken and one binary file, and a cache folder."""
    root = tmp_path_factory.mktemp("cli")
    write_files(root / "corpus", dict(SMALL_CORPUS))
    write_files(root / "corpus", {"bad/broken.md": "---\ntitle: ok\ntags: [a, b\n---\n\n正文。\n",
                                  "bad/binary.md": b"\x00\x01\x02binary"})
    return root


@pytest.fixture(scope="module")
def run(workdir: Path) -> Run:
    def run(*args: str, stdin: str | None = None, corpus: bool = True, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        where = ["--corpus", str(workdir / "corpus"), "--cache-dir", str(workdir / "cache")] if corpus else []
        return subprocess.run([sys.executable, "-m", "bot", *args, *where], cwd=workdir, input=stdin,
                              capture_output=True, text=True, timeout=180, env=env or clean_env(), check=False)

    return run


@pytest.fixture(scope="module")
def indexed(run: Run) -> subprocess.CompletedProcess[str]:
    """The first ``index`` of the module's corpus (later commands load its cache)."""
    return run("index")


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("articlebot: ")
    for fragment in fragments:
        assert fragment in lines[0]


# --- index ---------------------------------------------------------------------------------

def test_index_prints_counts_and_lists_skipped_files_with_reasons(indexed: subprocess.CompletedProcess[str],
                                                                 workdir: Path) -> None:
    assert indexed.returncode == 0, indexed.stderr
    lines = indexed.stdout.splitlines()
    assert lines[0].startswith("4 articles, ")
    assert " paragraphs (built) in " in lines[0]
    assert "2 files skipped:" in lines
    assert "  cannot be read (2):" in lines
    assert f"    {workdir / 'corpus/bad/binary.md'}: binary file, not Markdown text" in lines
    assert any(line.startswith(f"    {workdir / 'corpus/bad/broken.md'}:") and "not valid YAML" in line
               for line in lines)


def test_second_index_loads_the_cache(indexed: subprocess.CompletedProcess[str], run: Run) -> None:
    again = run("index")
    assert again.returncode == 0
    assert "(unchanged, loaded from cache)" in again.stdout.splitlines()[0]
    assert "2 files skipped:" in again.stdout


# --- ask -----------------------------------------------------------------------------------

def test_ask_json_prints_the_documented_keys(indexed: object, run: Run) -> None:
    result = run("ask", "--json", "DeepSeek V3 的训练成本是多少？")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["question"] == "DeepSeek V3 的训练成本是多少？"
    assert data["hits"]
    for hit in data["hits"]:
        assert ASK_HIT_KEYS <= set(hit)
    first = data["hits"][0]
    assert first["title"] == "DeepSeek，搅了谁的局？"
    assert first["date"] == "2025-02-10"
    assert first["tags"] == ["iyiou", "AI", "科技"]
    assert first["source_url"] == DEEPSEEK_URL
    assert first["path"].endswith("deepseek-iyiou.md")
    assert isinstance(first["paragraph"], int)
    assert "557.6万美元" in first["excerpt"]
    assert isinstance(first["score"], float) and first["score"] > 0


def test_ask_json_stdout_is_only_json(indexed: object, run: Run) -> None:
    result = run("ask", "--json", "--top", "1", "Comcast")
    assert len(json.loads(result.stdout)["hits"]) == 1
    assert result.stderr == ""


def test_ask_json_with_an_unsearchable_question_reports_the_error(indexed: object, run: Run) -> None:
    result = run("ask", "--json", "？？？")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["hits"] == []
    assert "no words" in data["error"]


def test_ask_prints_quotes_with_their_source(indexed: object, run: Run) -> None:
    result = run("ask", "DeepSeek", "训练成本")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1. DeepSeek，搅了谁的局？")
    assert "2025-02-10" in result.stdout.splitlines()[0]
    assert f"→ {DEEPSEEK_URL}" in result.stdout
    assert "»" in result.stdout and "«" in result.stdout


def test_ask_notes_skipped_files_on_stderr(indexed: object, run: Run) -> None:
    result = run("ask", "Comcast")
    assert "note: 2 files cannot be read; `articlebot index` lists why" in result.stderr


# --- chat ----------------------------------------------------------------------------------

def test_chat_answers_each_piped_line(indexed: object, run: Run) -> None:
    result = run("chat", stdin="DeepSeek 训练成本\n\n？？？\nComcast Munger\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("? DeepSeek 训练成本") < out.index("DeepSeek，搅了谁的局？") < out.index("? ？？？")
    assert "I found no words to search for" in out
    assert out.index("? Comcast Munger") < out.index("Why Comcast Stock Lacks the Moat")
    assert out.count("? ") >= 3


def test_chat_stops_at_quit(indexed: object, run: Run) -> None:
    result = run("chat", stdin="/quit\nDeepSeek\n")
    assert result.returncode == 0
    assert "DeepSeek，搅了谁的局？" not in result.stdout


# --- eval ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def questions_file(workdir: Path) -> Path:
    path = workdir / "questions.jsonl"
    rows = [{"id": "cost", "question": "DeepSeek V3 的训练成本是多少？", "answers": ["557.6万美元"]},
            {"id": "dow", "question": "道琼斯指数收涨多少点？", "answers": ["342點"]},
            {"id": "cake", "question": "how to bake a chocolate cake", "answers": ["flour"]}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_json_prints_the_figures(indexed: object, run: Run, questions_file: Path, workdir: Path) -> None:
    out = workdir / "per-question.jsonl"
    result = run("eval", "--questions", str(questions_file), "--json", "--per-question", str(out))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == EVAL_KEYS
    assert figures["questions"] == 3
    assert figures["recall@20"] == pytest.approx(2 / 3, abs=1e-3)
    assert 0 < figures["mrr@10"] <= figures["recall@20"]
    assert figures["query_ms_p50"] <= figures["query_ms_p99"]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["cost", "dow", "cake"]
    assert rows[0]["rank"] is not None and rows[2]["rank"] is None
    assert all({"id", "question", "rank", "hits"} <= set(r) for r in rows)


def test_eval_prints_a_readable_table(indexed: object, run: Run, questions_file: Path) -> None:
    result = run("eval", "--questions", str(questions_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("3 questions over ")
    assert "recall@1" in result.stdout and "mrr@10" in result.stdout


def test_eval_with_a_bad_question_line_is_a_one_line_error(run: Run, workdir: Path) -> None:
    path = workdir / "bad-questions.jsonl"
    path.write_text('{"question": "ok", "answers": ["x"]}\nnot json\n', encoding="utf-8")
    assert_one_line_error(run("eval", "--questions", str(path)), f"{path}:2:")


# --- help and errors -----------------------------------------------------------------------

def test_help_lists_the_commands(run: Run) -> None:
    result = run("--help", corpus=False)
    assert result.returncode == 0
    for command in SUBCOMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_works_on_every_subcommand(run: Run, command: str) -> None:
    result = run(command, "--help", corpus=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: articlebot {command}")
    assert "--corpus" in result.stdout and "--cache-dir" in result.stdout


def test_telegram_help_lists_every_setting(run: Run) -> None:
    from bot.config import SETTINGS

    result = run("telegram", "--help", corpus=False)
    for setting in SETTINGS:
        assert setting.env in result.stdout


def test_unknown_config_key_is_a_one_line_error(run: Run, workdir: Path) -> None:
    config = workdir / "bad.toml"
    config.write_text("top_k = 3\nbogus = 1\n", encoding="utf-8")
    assert_one_line_error(run("ask", "DeepSeek", "--config", str(config)), "bogus")


def test_bad_environment_value_is_a_one_line_error(run: Run) -> None:
    result = run("ask", "DeepSeek", env=clean_env(ARTICLEBOT_TOP_K="zero"))
    assert_one_line_error(result, "top_k", "ARTICLEBOT_TOP_K")


def test_missing_questions_file_is_a_one_line_error(run: Run, workdir: Path) -> None:
    assert_one_line_error(run("eval", "--questions", str(workdir / "missing.jsonl")), "cannot read questions")


def test_telegram_without_a_token_is_a_one_line_error(run: Run) -> None:
    assert_one_line_error(run("telegram"), "TELEGRAM_BOT_TOKEN")


def test_missing_subcommand_is_a_usage_error(run: Run) -> None:
    result = run(corpus=False)
    assert result.returncode == 2
    assert "usage: articlebot" in result.stderr


def test_missing_corpus_folder_is_a_one_line_error(run: Run, workdir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "ask", "DeepSeek", "--corpus", str(workdir / "nowhere"),
                             "--cache-dir", str(workdir / "cache-nowhere")],
                            cwd=workdir, capture_output=True, text=True, timeout=180, env=clean_env(), check=False)
    assert_one_line_error(result, str(workdir / "nowhere"), "folder not found")


def test_question_with_non_utf8_bytes_gives_no_traceback(indexed: object, workdir: Path) -> None:
    argv = [os.fsencode(sys.executable), b"-m", b"bot", b"ask", b"DeepSeek \xff",
            b"--corpus", os.fsencode(workdir / "corpus"), b"--cache-dir", os.fsencode(workdir / "cache")]
    result = subprocess.run(argv, cwd=workdir, capture_output=True, timeout=180, env=clean_env(), check=False)
    assert b"Traceback" not in result.stderr


# --- digests ----------------------------------------------------------------------------

BUNDLED = Path(__file__).parents[1] / "corpus"


@pytest.fixture(scope="module")
def run_bundled(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cache = tmp_path_factory.mktemp("bundled-cache")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", *args, "--corpus", str(BUNDLED), "--cache-dir",
                               str(cache)], capture_output=True, text=True, timeout=180, env=clean_env(), check=False)

    return run


def test_tag_json_lists_the_tags_articles_newest_first_with_verbatim_summaries(run_bundled: Run) -> None:
    result = run_bundled("tag", "iyiou", "--json")
    assert result.returncode == 0, result.stderr
    digest = json.loads(result.stdout)
    assert digest["tag"] == "iyiou"
    articles = digest["articles"]
    assert articles and all(a["source_url"] and a["summary"] for a in articles)
    dates = [a["date"] for a in articles]
    assert dates == sorted(dates, reverse=True)
    for article in articles:
        path = Path(article["path"])
        body = "".join(p.text for p in load_article(path, read_text(path, 1 << 24)).paragraphs).replace("\n", "")
        assert article["summary_sentences"]
        for sentence in article["summary_sentences"]:
            assert sentence.removesuffix("…").replace("\n", "").strip() in body


def test_a_name_nobody_tagged_lists_the_articles_about_it(run_bundled: Run) -> None:
    digest = json.loads(run_bundled("tag", "DeepSeek", "--json").stdout)
    assert digest["articles"][0]["title"] == "DeepSeek，搅了谁的局？"


def test_forgiving_tag_names(run_bundled: Run) -> None:
    assert json.loads(run_bundled("tag", "IYIOU", "--json").stdout)["tag"] == "iyiou"


def test_tags_latest_and_summarize_answer(run_bundled: Run) -> None:
    tags = json.loads(run_bundled("tags", "--json").stdout)["tags"]
    assert {"name": "iyiou", "articles": 7, "kind": "tag"} in tags
    latest = json.loads(run_bundled("latest", "3", "--json").stdout)["articles"]
    assert len(latest) == 3
    summary = json.loads(run_bundled("summarize", "DeepSeek 训练成本", "--json").stdout)
    assert summary["title"] == "DeepSeek，搅了谁的局？" and summary["summary"]


def test_unknown_tag_exits_non_zero_with_suggestions(run_bundled: Run) -> None:
    result = run_bundled("tag", "zzqqxx")
    assert result.returncode == 1 and "Try:" in result.stdout


# --- what a newcomer sees first: empty folders, wrong flags, one article ------------------------

EMPTY_NOTICE = "(the folder holds no *.md files). Point --corpus at a folder of Markdown articles."

CliRun = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRun:
    """``articlebot ARGS`` in this process (bot.cli.main): (exit status, stdout, stderr)."""
    for name in [n for n in os.environ if n.startswith(("ARTICLEBOT_", "TELEGRAM_"))]:
        monkeypatch.delenv(name)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            status = main([*args, "--cache-dir", str(tmp_path / "cache")] if args and not args[0].startswith("-")
                          else list(args))
        except SystemExit as stop:  # argparse's usage errors
            status = int(stop.code or 0)
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "README.md").write_text("# Articles go here\n", encoding="utf-8")  # not an article
    return folder


@pytest.mark.parametrize("command", [["ask", "DeepSeek"], ["ask", "--json", "DeepSeek"], ["latest"], ["tags"],
                                     ["tag", "iyiou"], ["summarize", "DeepSeek"]])
def test_an_empty_corpus_folder_is_named_and_nothing_is_done(cli: CliRun, empty: Path, command: list[str]) -> None:
    status, out, err = cli(*command, "--corpus", str(empty))
    assert status == 1
    assert out == ""
    assert err == f"articlebot: No articles in {empty}/ {EMPTY_NOTICE}\n"


def test_index_of_an_empty_corpus_reports_it(cli: CliRun, empty: Path) -> None:
    status, out, _ = cli("index", "--corpus", str(empty))
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("0 articles, 0 paragraphs (built) in ")
    assert f"No articles in {empty}/ {EMPTY_NOTICE}" in lines
    assert not any("holds no *.md files" in line and line.startswith("note:") for line in lines)


def test_piped_chat_over_an_empty_corpus_says_so_on_stderr(run: Run, workdir: Path) -> None:
    (workdir / "empty").mkdir(exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "bot", "chat", "--corpus", str(workdir / "empty"), "--cache-dir",
                             str(workdir / "cache-empty")], cwd=workdir, input="DeepSeek\n", capture_output=True,
                            text=True, timeout=180, env=clean_env(), check=False)
    assert result.returncode == 0
    assert result.stderr == f"articlebot: No articles in {workdir / 'empty'}/ {EMPTY_NOTICE}\n"
    assert result.stdout.startswith("? DeepSeek\nNothing in the articles answers “DeepSeek”.")


def test_a_corpus_that_is_a_file_is_told_apart_from_a_missing_folder(cli: CliRun, workdir: Path) -> None:
    readme = workdir / "corpus" / "README.md"
    status, out, err = cli("ask", "DeepSeek", "--corpus", str(readme))
    assert (status, out) == (1, "")
    assert err == f"articlebot: corpus {readme} is a file; --corpus takes a folder of Markdown articles\n"


def test_an_unknown_option_without_a_command_is_named(cli: CliRun) -> None:
    status, _, err = cli("--wrong")
    assert status == 2
    assert err.startswith("usage: articlebot [-h] COMMAND")
    assert err.splitlines()[-1] == "articlebot: error: unrecognized arguments: --wrong"


def test_an_unknown_option_of_a_command_is_shown_under_that_commands_usage(cli: CliRun) -> None:
    status, _, err = cli("ask", "--wrong", "x")
    assert status == 2
    assert err.startswith("usage: articlebot ask ")
    assert err.splitlines()[-1] == "articlebot ask: error: unrecognized arguments: --wrong"


@pytest.mark.parametrize(("args", "flag", "value"), [
    (["ask", "--top", "0", "x"], "--top", "0"),
    (["ask", "--top", "-2", "x"], "--top", "-2"),
    (["ask", "--per-article", "0", "x"], "--per-article", "0"),
    (["latest", "0"], "N", "0"),
    (["latest", "-3"], "N", "-3"),
    (["tag", "iyiou", "--page", "0"], "--page", "0"),
    (["tag", "iyiou", "--per-page", "0"], "--per-page", "0"),
    (["summarize", "--eval", "corpus", "--budget", "0"], "--budget", "0"),
    (["report", "--days", "0"], "--days", "0"),
])
def test_counts_and_sizes_must_be_one_or_more(cli: CliRun, args: list[str], flag: str, value: str) -> None:
    status, out, err = cli(*args)
    assert (status, out) == (2, "")
    assert err.startswith(f"usage: articlebot {args[0]} ")
    assert err.splitlines()[-1] == f"articlebot {args[0]}: error: argument {flag}: must be 1 or more (got {value})"


def test_a_count_that_is_no_number_says_so(cli: CliRun) -> None:
    status, _, err = cli("ask", "--top", "many", "x")
    assert status == 2
    assert err.splitlines()[-1] == "articlebot ask: error: argument --top: must be a whole number, 1 or more (got many)"


TIDE_POOLS = """---
title: "A field guide to tide pools"
---

Tide pools form where the sea leaves water behind in hollows of the rock as the tide goes out twice a day. \
Each pool is a small world of its own for a few hours, warmed by the sun, diluted by rain and cut off from \
the open sea until the water comes back in and joins it again.

Anemones close into soft green knobs when the water drains away and open again when the waves return. \
Their tentacles sting small fish and shrimp that brush against them, and a closed anemone keeps a little \
seawater inside so that it does not dry out in the hours before the tide turns.

Hermit crabs trade shells as they grow, and a larger empty shell can start a queue of crabs waiting to move. \
When the biggest crab takes the new shell, each of the others moves up into the shell the one ahead of it \
has just left, so a single find rehouses the whole line within minutes.

Sea stars pry mussels open with hundreds of tube feet, pulling steadily until the shell muscles tire. \
The star then pushes its stomach out through its mouth and into the gap, digesting the mussel where it \
sits, a meal that can take most of a day at the bottom of a quiet pool.

Visitors should step only on bare rock, because barnacles and seaweed are living animals and plants. \
Turning a stone over to look underneath is fine if it goes back exactly as it was found, since the \
animals sheltering below need the shade and the damp to survive until the water returns.

The best pools appear at the lowest tides of spring and autumn, early in the morning or late in the evening. \
Tide tables printed by harbour offices give the times a week ahead, and the hour before low water is \
the safest time to explore before the sea starts coming back over the rocks.
"""


@pytest.fixture
def one_article(tmp_path: Path) -> Path:
    """One undated, untagged article and one file that cannot be read."""
    return write_files(tmp_path / "one", {"pools.md": TIDE_POOLS, "broken.md": b"\x00\x01binary"})


def test_one_article_reads_in_the_singular(cli: CliRun, one_article: Path) -> None:
    status, out, _ = cli("index", "--corpus", str(one_article))
    assert status == 0
    assert re.match(r"1 article, \d+ paragraphs \(built\) in ", out)
    assert "1 file skipped:" in out.splitlines()
    status, out, err = cli("tag", "crabs", "--corpus", str(one_article))
    assert out.startswith("articles mentioning crabs: 1 article (page 1 of 1)")
    assert "note: 1 file cannot be read; `articlebot index` lists why" in err


def test_an_article_without_date_or_tags_shows_no_empty_parentheses(cli: CliRun, one_article: Path) -> None:
    _, latest, _ = cli("latest", "--corpus", str(one_article))
    assert latest.startswith("1. A field guide to tide pools\n")
    _, answer, _ = cli("ask", "hermit crabs shells", "--corpus", str(one_article))
    assert answer.startswith("1. A field guide to tide pools\n")
    assert "()" not in latest + answer


def test_index_lists_what_a_hugo_site_leaves_out_under_each_reason(cli: CliRun, tmp_path: Path) -> None:
    site = write_files(tmp_path / "site", {
        "hugo.toml": 'baseURL = "https://example.org/"\n',
        "content/post/live.md": "+++\ntitle = \"Live\"\n+++\n\nThe tide pools fill twice a day with crabs and anemones.\n",
        "content/post/draft.md": "+++\ntitle = \"Draft\"\ndraft = true\n+++\n\nNot ready.\n",
        "content/post/later.md": "+++\ntitle = \"Later\"\ndate = 2999-01-01\n+++\n\nNot yet.\n",
        "content/post/broken.md": "+++\ntitle = \n+++\n\nx\n",
    })
    status, out, _ = cli("index", "--corpus", str(site))
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("1 article, ")
    assert lines[lines.index("3 files skipped:") + 1:] == [
        "  cannot be read (1):", f"    {site / 'content/post/broken.md'}:2: front matter is not valid TOML "
                                 "(Invalid value)",
        "  drafts (1):", f"    {site / 'content/post/draft.md'}: draft (draft: true)",
        "  to be published later (1):", f"    {site / 'content/post/later.md'}: publishes in the future "
                                        "(2999-01-01 00:00 UTC)"]
