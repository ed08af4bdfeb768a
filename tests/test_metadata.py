"""metadata.py: front matter in the three formats Hugo reads, and site configuration files."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.errors import ConfigError, CorpusError
from bot.search.metadata import read_data_file, split_front_matter

BODY = "The body of the page.\n"


def split(text: str) -> tuple[dict[str, object], str]:
    return split_front_matter(Path("page.md"), text)


def test_yaml_toml_and_json_front_matter_read_alike() -> None:
    yaml_ = split(f"---\ntitle: Same\ndate: 2016-08-19\ntags: [a, b]\n---\n\n{BODY}")
    toml_ = split(f'+++\ntitle = "Same"\ndate = 2016-08-19\ntags = ["a", "b"]\n+++\n\n{BODY}')
    json_ = split(f'{{\n  "title": "Same",\n  "date": "2016-08-19",\n  "tags": ["a", "b"]\n}}\n\n{BODY}')
    for metadata, body in (yaml_, toml_, json_):
        assert metadata["title"] == "Same" and metadata["tags"] == ["a", "b"]
        assert body.strip() == BODY.strip()
    assert yaml_[0]["date"] == toml_[0]["date"] == date(2016, 8, 19)


def test_toml_datetimes_keep_their_offset() -> None:
    metadata, _ = split(f'+++\ndate = 2016-08-19T08:09:26-07:00\n+++\n{BODY}')
    assert metadata["date"] == datetime(2016, 8, 19, 8, 9, 26, tzinfo=timezone(timedelta(hours=-7)))


def test_one_line_json_front_matter() -> None:
    assert split('{"title": "Compact"}\nText.')[0] == {"title": "Compact"}


def test_no_front_matter_is_all_body() -> None:
    assert split("# Heading\n\nText.") == ({}, "# Heading\n\nText.")


@pytest.mark.parametrize(("text", "fmt", "line"), [
    ("---\ntitle: ok\nbad: @x\n---\nx", "YAML", 3),
    ('+++\ntitle = "ok"\nbad = \n+++\nx', "TOML", 3),
    ('{\n  "title": "ok",\n  "bad": nope\n}\nx', "JSON", 3),
])
def test_broken_front_matter_names_the_format_and_the_line(text: str, fmt: str, line: int) -> None:
    with pytest.raises(CorpusError) as caught:
        split(text)
    assert f"not valid {fmt}" in caught.value.reason
    assert caught.value.line == line


@pytest.mark.parametrize("fence", ["---", "+++"])
def test_front_matter_that_never_closes_says_how_to_fix_it(fence: str) -> None:
    with pytest.raises(CorpusError, match=f"never ends; add a closing '{fence.replace('+', '[+]')}' line"):
        split(f"{fence}\ntitle: open\n\n{BODY}")


def test_config_files_in_every_format(tmp_path: Path) -> None:
    files = {"hugo.toml": 'baseURL = "https://a/"\n', "hugo.yaml": "baseURL: https://a/\n",
             "hugo.json": '{"baseURL": "https://a/"}'}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert read_data_file(tmp_path / name) == {"baseURL": "https://a/"}


def test_a_config_that_is_not_a_mapping_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "hugo.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="hugo.yaml: site configuration is not a 'key: value' mapping"):
        read_data_file(path)
