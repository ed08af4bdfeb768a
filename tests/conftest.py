"""Shared fixtures: small real corpora written to tmp_path, one tokenizer, the bundled corpus.

Every corpus here is a folder of real ``.md`` files on disk, read by the real loader; nothing
in articlebot is mocked. ``ReferenceBM25`` is the oracle scores are tested against: rank-bm25's
BM25Okapi, given the idf articlebot uses.
"""

from __future__ import annotations

import math
import os
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import hypothesis
import hypothesis.configuration
import hypothesis.database
import pytest
from rank_bm25 import BM25Okapi
from support.postgres import SKIP_REASON, PostgresServer, find_binaries

from bot.config import Settings
from bot.search.answers import Answerer
from bot.search.library import Library
from bot.search.tokens import Tokenizer

_HYPOTHESIS_HOME = Path(tempfile.gettempdir()) / "articlebot-hypothesis"
hypothesis.configuration.set_hypothesis_home_dir(_HYPOTHESIS_HOME)
hypothesis.settings.register_profile(
    "articlebot", database=hypothesis.database.DirectoryBasedExampleDatabase(_HYPOTHESIS_HOME / "examples"))
hypothesis.settings.load_profile("articlebot")
"""Hypothesis keeps its files (example database, caches) out of the repository, like any test artefact."""

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "articlebot-numba"))
"""The compiled search is compiled once per machine, not once per bot a test starts (each with its own
cache folder): bots started in subprocesses inherit this, as a deployed bot keeps its cache."""

REPO = Path(__file__).parents[1]
CORPUS = REPO / "corpus"
"""The bundled demo corpus, used read-only for end-to-end checks."""

DEEPSEEK_URL = "https://www.iyiou.com/news/202502101089862"
WECHAT_URL = "https://mp.weixin.qq.com/s?__biz=MzIyMzA5NjEyMA==&mid=2647670743&idx=1"


class ReferenceBM25(BM25Okapi):
    """rank-bm25's BM25Okapi with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)), the one articlebot uses.

    Everything else (term-frequency saturation, length normalisation, repeated query words) is
    rank-bm25's own code; only the idf differs, because Okapi's is zero or negative for terms in
    half the paragraphs or more, which in small folders is most of them.
    """

    def __init__(self, corpus: list[list[str]], k1: float = 0.9, b: float = 0.4) -> None:
        super().__init__(corpus, k1=k1, b=b)

    def _calc_idf(self, nd: dict[str, int]) -> None:
        self.idf = {word: math.log1p((self.corpus_size - freq + 0.5) / (freq + 0.5)) for word, freq in nd.items()}


def _md(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


NEWS_ARTICLE = _md(f"""
    ---
    title: "DeepSeek，搅了谁的局？"
    date: "2025-02-10 16:26:13"
    summary: "上一次AI行业引起全民震动还是2022年11月ChatGPT的横空出世，此后AI行业每逢重大变革，都..."
    categories:
      - "iyiou"
      - "科技"
    lang:
      - "zh-CN"
    tags:
      - "iyiou"
      - "AI"
    ---

    上一次AI行业引起全民震动还是2022年11月ChatGPT的横空出世，此后AI行业每逢重大变革，都被称为是“ChatGPT时刻”。这个词在2024年年底被改写，**“DeepSeek时刻”出现**，被看作是AI历史上的新转折点。

    其中，DeepSeek宣称V3在性能上接近闭源模型OpenAI的GPT-4o，优于开源模型Meta的Llama 3，且总训练成本仅为557.6万美元。推理模型R1的效果则逼近OpenAI o1，同时API价格仅为OpenAI o1的3.7%。

    欲戴其冠，必承其重
    ==================

    DeepSeek-R1上线20多天，接受了多少掌声，就承受了多少压力。AI行业从业者林志向「定焦One」总结了DeepSeek口碑的来源：完全免费使用，并且在和用户聊天时会展示思维过程。

    ![图片](https://diting-hetu.iyiou.com/async/weixin/p4gPJeYDg42ORCD5XNP1)

    ## 算力与芯片

    这是一家成立于2023年7月17日的初创公司，手上却握着万张英伟达芯片，以海外AI巨头们7%左右的成本训练出了性能不错的大模型，据称使用了H200和H800芯片。

    | 模型 | 训练成本 |
    | --- | --- |
    | DeepSeek-V3 | 557.6万美元 |
    | Llama 3 | 数亿美元 |

    价格战方面，1\\. 字节、阿里、百度等大公司跟进降价，\\*并非强调\\*，而是*真的*降价；详见<a href="https://example.com/price" target="_blank">价格对比表</a>和[官方公告](https://example.com/notice)。

    他的明天，在哪呢？

    DeepSeek的出现，一度让全球算力概念股暴跌，英伟达股价下跌近17%，市值蒸发近6000亿美元，规模创美股史上最大。OpenAI和谷歌也在近期紧急上线最新模型，AI行业堪称烈火烹油。

    [iyiou]({DEEPSEEK_URL})
    """)

WECHAT_ARTICLE = _md(f"""
    ---
    title: "GPT4o生成的烂自拍，反而比我们更真实。"
    发布日期: 2024-10-08
    作者: "数字生命卡兹克"
    来源: "微信公众号"
    原文链接: "{WECHAT_URL}"
    ---

    ## 摘要

    **一句话总结**：利用 GPT-4o 生成的刻意平庸的 AI 自拍照在网络爆火，不完美的视觉效果反而命中了人类对真实的感知。

    ## 正文

    我是没想到，GPT4o用一段小小的Prompt生成的一些图片，引发了这么长久的热度浪潮，现在依然不断冒出各种创意。

    强子跟兴哥穿着各自的工服，在上海外滩友好自拍，京东外卖跟美团外卖却干架干得热火朝天，这组照片在小红书上获得了近十二万点赞。

    提示词完全摒弃完美主义，明确要求平凡无奇的手机自拍照、没有明确主体或构图、运动模糊、曝光过度、角度尴尬以及刻意的平庸感。

    作者建议使用 Sora 网页端而不是 ChatGPT 内置的模型，因为 Sora 支持一次生成多张图片，并且保留了比例预设，体验更好。

    ## 关联主题

    - [[00-元语/数字生命卡兹克]]
    - [[00-元语/AI]]
    - [[00-元语/llm|大模型]]
    """)

HK_ARTICLE = _md("""
    ---
    title: "美股兩周高 道指升342點 金龍指數續創4個月高"
    date: "2025-02-14 08:35:38"
    categories:
      - "mingpao"
    tags:
      - "mingpao"
    ---

    美債息回軟，息差收窄，金龍指數續創4個月高，美股上升，創逾兩周最大升幅及新高。特朗普宣布的對等關稅未立即實施，為通過談判解決貿易糾紛留出空間。

    個股方面，蘋果宣布2月19日舉行產品發布會，或推出新款手機。大型科技股表現出色，英偉達股價上漲逾3%；Meta股價連續第19個交易日走高。

    道瓊斯工業平均指數收漲342點，升幅0.78%，報44711點。標普500指數收漲63點，升幅1.05%，報6115點。

    [mingpao](https://finance.mingpao.com/fin/instantf/20250214/1739492658928/美股兩周高-道指升342點)
    """)

ENGLISH_ARTICLE = _md("""
    ---
    title: "Why Comcast Stock Lacks the Moat Charlie Munger Demands"
    date: 2025-02-10
    tags: tipranks, stocks, TipRanks
    ---

    Since its founding in 1963, Comcast Corporation has been one of the world's most dominant telecommunications and media companies, offering investors revenue streams from high-speed internet to content distribution.

    Charlie Munger, the legendary investor and longtime partner of Warren Buffett, always believed that firms must possess durable advantages that protect them from competitors. The value of a castle is its moat.

    Broadband subscribers keep leaving for cheaper wireless plans, and the Peacock streaming service still loses money every quarter while the cable television business shrinks year after year.

    I'm staying firmly bearish and recommend shareholders trim their positions until strong catalysts emerge.
    """)

LONG_PARAGRAPHS = "\n\n".join([
    "白尾雀鲷是一种生活在珊瑚礁附近的小型海鱼，身体呈深褐色，尾鳍却是醒目的白色，潜水者很容易认出它。",
    "它们通常成群栖息在枝状珊瑚之间，受到惊吓时会迅速躲进珊瑚的缝隙里，等危险过去才重新游出来觅食。",
    "白尾雀鲷以浮游动物和藻类为食，雄鱼在繁殖季节会清理一块礁石表面，守护雌鱼产下的卵直到孵化。",
    "研究人员发现，海水升温导致的珊瑚白化会让这种鱼失去藏身之处，种群数量在一些海域明显下降。",
])
"""A body of four ordinary paragraphs, for articles added during a test."""

SMALL_CORPUS: dict[str, str] = {
    "news/deepseek-iyiou.md": NEWS_ARTICLE,
    "wechat/GPT4o生成的烂自拍.md": WECHAT_ARTICLE,
    "news/meigu.zh-HK.md": HK_ARTICLE,
    "news/comcast.en.md": ENGLISH_ARTICLE,
    "README.md": "# Not an article\n\nThis folder holds test articles; the loader must ignore this file.\n",
}


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``root`` and return ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    """One tokenizer for the whole run: jieba takes about a second to load."""
    return Tokenizer()


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """The four-article corpus (news, WeChat, zh-HK, English) plus a README, in a fresh folder."""
    return write_files(tmp_path / "corpus", dict(SMALL_CORPUS))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings over the given folders, caching under tmp_path (never in the repository)."""

    def make(*corpus: Path, **overrides: object) -> Settings:
        values: dict[str, object] = {"corpus": tuple(corpus), "cache_dir": tmp_path / "cache", "workers": 1}
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def small_library(corpus_dir: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer) -> Library:
    return Library.open(make_settings(corpus_dir), tokenizer=tokenizer)


@pytest.fixture(scope="session")
def bundled_library(tmp_path_factory: pytest.TempPathFactory, tokenizer: Tokenizer) -> Library:
    """The bundled corpus, indexed once per run into a temporary cache."""
    settings = Settings(corpus=(CORPUS,), cache_dir=tmp_path_factory.mktemp("bundled-cache"), workers=1)
    return Library.open(settings, tokenizer=tokenizer)


@pytest.fixture(scope="session")
def answerer(bundled_library: Library) -> Answerer:
    return Answerer(bundled_library)


def pytest_report_header(config: pytest.Config) -> str:
    """Say at the top of every run whether the state tests run on PostgreSQL too, and if not, why."""
    binaries = find_binaries()
    if binaries is None:
        return f"state backends: sqlite only; {SKIP_REASON}"
    return f"state backends: sqlite and postgresql (a real server from {binaries})"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the run (started on first use), or a skip that says why not."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer(binaries).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the state tests run against: each runs twice, once per backend."""
    return str(request.param)


@pytest.fixture
def state_target(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a test's ``State`` lives: an SQLite file under tmp_path, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        return str(tmp_path / "state.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.fresh_database()
