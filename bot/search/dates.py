"""The date a reader's question names, so the ranker can prefer that date's articles and the answer
can say which date it used.

Readers ask about news by date ("2月13日港股午间收盘", "上周五美股", "琴日恒指", "on Feb 12") in
Simplified and Traditional Chinese, Cantonese and English, often with full-width digits. Reading a
date where there is none would steer the ranker away from the right article, so the rules are
conservative: a duration ("5日内", "30天"), a moving average ("13日均线"), a ratio ("2/3的"), a bare
month ("3月美联储会议" is about the meeting, not the article's date) or a bare year is no date.

Relative dates ("昨天", "上周五", "last month") count from an anchor (:func:`anchor_date`): the
collection's newest article, since a reader of a collection that stopped updating means its last
days, not the calendar's. A month and day without a year is the latest such day on or before the
anchor, since readers ask about news that has happened.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

DAY, WEEK, MONTH, YEAR = "day", "week", "month", "year"
"""The kinds of span: ``DateSpan.kind``."""

YEARS = range(1900, 2100)
"""Years an absolute date may name: four digits outside it are a count or a code, not a year."""


@dataclass(frozen=True)
class DateSpan:
    """A span of days a question names, and the words that named it (to quote back to the reader)."""

    start: date
    """The first day, inclusive."""
    end: date
    """The last day, inclusive."""
    kind: str
    """"day", "week" (Monday to Sunday), "month" or "year"."""
    text: str
    """The words of the question that named the span, verbatim (full-width digits stay full-width)."""

    def __str__(self) -> str:
        """The span as the answer states it: "2025-02-13", "2025-02-10 – 2025-02-16", "2025-02"."""
        if self.kind == YEAR:
            return f"{self.start.year:04d}"
        if self.kind == MONTH:
            return f"{self.start.year:04d}-{self.start.month:02d}"
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()} – {self.end.isoformat()}"

    def holds(self, day: date) -> bool:
        """Whether ``day`` falls in the span (both ends included)."""
        return self.start <= day <= self.end


def anchor_date(newest: date | None, today: date) -> date:
    """Relative dates count from the collection's newest article, or from today where that is closer
    (a collection whose newest article is dated in the future counts from today).

    A collection that stopped updating is read as of its last article: "昨天" there means the day
    before its newest news. A future date is a typo or a scheduled post, not news already out.
    """
    return today if newest is None else min(newest, today)


def find_date(question: str, anchor: date) -> DateSpan | None:
    """The first date the question names, or None where it names none.

    Every rule's matches compete: the earliest wins, the longest where two start together
    ("上周五" over "上周", "2025年2月13日" over "2025年2月"). A match that names no valid date
    ("2月30日", "下周五", "每周五") hides the shorter matches inside it, so "2025年2月30日" does not
    fall back to February 2025.
    """
    normal, origin = _normalize(question)
    matches = sorted(((match, build) for pattern, build in _RULES for match in pattern.finditer(normal)),
                     key=lambda found: (found[0].start(), -found[0].end()))
    hidden_until = 0
    for match, build in matches:
        if match.start() < hidden_until:
            continue
        span = build(match, anchor)
        if span is not None:
            start, end, kind = span
            text = question[origin[match.start()]:origin[match.end() - 1] + 1]
            return DateSpan(start, end, kind, text)
        hidden_until = match.end()
    return None


def _normalize(text: str) -> tuple[str, list[int]]:
    """NFKC, one character at a time, and for each normalized character the index of the original
    one: the rules read ASCII digits and spaces, the reader gets their own words back."""
    parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        normal = unicodedata.normalize("NFKC", char)
        parts.append(normal)
        origin.extend([index] * len(normal))
    return "".join(parts), origin


_Span = tuple[date, date, str]
_Build = Callable[[re.Match[str], date], _Span | None]


# Calendar arithmetic


def _date(year: int, month: int, day: int) -> date | None:
    """The date, or None where there is no such day (2月30日)."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _latest(month: int, day: int, anchor: date) -> date | None:
    """The latest ``month``/``day`` on or before the anchor; eight years back finds every 2月29日."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    for year in range(anchor.year, anchor.year - 9, -1):
        found = _date(year, month, day)
        if found is not None and found <= anchor:
            return found
    return None


def _absolute_or_latest(year: str | None, month: int, day: int, anchor: date) -> date | None:
    """The date with its year where the question gives one, else the latest on or before the anchor."""
    if year is None:
        return _latest(month, day, anchor)
    return _date(int(year), month, day) if int(year) in YEARS else None


def _one_day(day: date | None) -> _Span | None:
    return None if day is None else (day, day, DAY)


def _monday(day: date) -> date:
    """The Monday of the ISO week holding ``day``."""
    return day - timedelta(days=day.weekday())


def _week(anchor: date, weeks: int) -> _Span:
    """The ISO week ``weeks`` from the anchor's (0: this week, -1: last week)."""
    monday = _monday(anchor) + timedelta(weeks=weeks)
    return monday, monday + timedelta(days=6), WEEK


def _month(year: int, month: int) -> _Span | None:
    """The whole calendar month, or None where the month or year is out of range."""
    if year not in YEARS or not 1 <= month <= 12:
        return None
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, 1), following - timedelta(days=1), MONTH


def _months_from(anchor: date, months: int) -> tuple[int, int]:
    """(year, month) ``months`` from the anchor's month (-1: last month)."""
    index = anchor.year * 12 + anchor.month - 1 + months
    return index // 12, index % 12 + 1


def _on_or_before(anchor: date, weekday: int) -> date:
    """The latest ``weekday`` (0 = Monday) on or before the anchor: "周五", "on Friday"."""
    return anchor - timedelta(days=(anchor.weekday() - weekday) % 7)


def _before(anchor: date, weekday: int) -> date:
    """The latest ``weekday`` strictly before the anchor: "last Friday" said on a Friday is a week ago."""
    return anchor - timedelta(days=(anchor.weekday() - weekday - 1) % 7 + 1)


# Absolute dates: 2025年2月13日, 2025-02-13, 2/13, Feb 12, 12 February 2025, February 2025


_DIGITS = re.ASCII
"""``\\d`` is 0-9 only: NFKC has made full-width digits ASCII, and no other script's digits name a date here."""
_ENGLISH = re.IGNORECASE | re.ASCII
"""English words: ``\\b`` ASCII-only, so "Feb 12的" and "在Feb 12" still have word ends."""
_CHINESE_DAY = re.compile(r"(?<!\d)(?:(?P<y>\d{4})\s*年\s*)?(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号號]",
                          _DIGITS)
_CHINESE_YEAR_MONTH = re.compile(r"(?<!\d)(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月(?!\s*\d)(?!期)", _DIGITS)
"""2025年2月: a month with its year ("3月期" is a tenor and "3月" alone an event's month)."""
_NUMERIC_DAY = re.compile(r"(?<![\d./-])(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
                          r"(?!\d|[-/.]\d)", _DIGITS)
_NUMERIC_MONTH = re.compile(r"(?<![\d./-])(?P<y>\d{4})-(?P<m>\d{2})(?!\d|[-/.]\d)", _DIGITS)
_SLASH_DAY = re.compile(r"(?<![0-9A-Za-z./:-])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?![0-9A-Za-z./:%‰-])", _DIGITS)
_FRACTION_BEFORE = re.compile(r"(?:约|約|近|超|逾|占|佔|达|達|仅|僅|不足|不到|about|nearly|almost|over|"
                              r"roughly|around|than|only)\s*$", _ENGLISH)
_FRACTION_AFTER = re.compile(r"\s*(?:的|之|倍|成|仓|倉|份|个|個|以|左右|of\b)", _ENGLISH)
"""Words around "1/3" that make it a share of something ("约1/3的", "1/3仓位", "2/3 of"), not a date."""

_MONTH_NAME = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
               r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ENGLISH_YEAR = r"(?P<y>(?:19|20)\d{2})"
_ENGLISH_MONTH_DAY = re.compile(
    rf"(?:\bon\s+)?(?:the\s+)?\b{_MONTH_NAME}\b\.?\s*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?!%|[:.]\d)"
    rf"(?:,?\s*{_ENGLISH_YEAR}\b)?", _ENGLISH)
_ENGLISH_DAY_MONTH = re.compile(
    rf"(?:\bon\s+)?(?:the\s+)?(?<![\d.,])\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_NAME}\b\.?"
    rf"(?:,?\s*{_ENGLISH_YEAR}\b)?", _ENGLISH)
_ENGLISH_MONTH = re.compile(rf"(?:\bin\s+)?\b{_MONTH_NAME}\b\.?,?\s*{_ENGLISH_YEAR}\b", _ENGLISH)


def _month_number(name: str) -> int:
    return ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec").index(
        name[:3].lower()) + 1


def _modal_may(match: re.Match[str]) -> bool:
    """A lower-case "may" without a year is the verb ("stocks may 5%…"), not the month."""
    return match["mon"] == "may" and match["y"] is None


def _build_chinese_day(match: re.Match[str], anchor: date) -> _Span | None:
    return _one_day(_absolute_or_latest(match["y"], int(match["m"]), int(match["d"]), anchor))


def _build_numeric_day(match: re.Match[str], anchor: date) -> _Span | None:
    return _one_day(_absolute_or_latest(match["y"], int(match["m"]), int(match["d"]), anchor))


def _build_year_month(match: re.Match[str], anchor: date) -> _Span | None:
    return _month(int(match["y"]), int(match["m"]))


def _build_slash_day(match: re.Match[str], anchor: date) -> _Span | None:
    """"2/13" is month/day, unless the words around it make it a fraction ("1/2的", "about 1/3")."""
    text = match.string
    if _FRACTION_BEFORE.search(text, 0, match.start()) or _FRACTION_AFTER.match(text, match.end()):
        return None
    return _one_day(_latest(int(match["m"]), int(match["d"]), anchor))


def _build_english_day(match: re.Match[str], anchor: date) -> _Span | None:
    if _modal_may(match):
        return None
    return _one_day(_absolute_or_latest(match["y"], _month_number(match["mon"]), int(match["d"]), anchor))


def _build_english_month(match: re.Match[str], anchor: date) -> _Span | None:
    return _month(int(match["y"]), _month_number(match["mon"]))


# Relative dates: 昨天, 上周五, 本月, yesterday, last Friday, this week


_RELATIVE_PREFIX = {"上上": -2, "上": -1, "本": 0, "这": 0, "這": 0, "今": 0, "呢": 0}
"""Weeks or months back from the anchor's; "下" (next), "每" (every), "黑色" (Black Friday) name no
date and are matched only to hide the weekday inside them."""
_PREFIX = r"(?P<pre>上上|上|本|这|這|今|呢|下下|下)(?:个|個)?"
_NOT_AFTER = r"(?<![以日基成资資根马馬加早晚之线線网網])"
"""Characters that make the prefix part of another word: 以上, 日本, 基本, 成本, 马上, 加上, 网上."""

_CHINESE_RELATIVE_DAY = re.compile(
    r"(?<![如迄现現古])今(?:天|日)(?!头条|頭條)|昨(?:天|日)|琴日|[寻尋]日(?!本)"
    r"|(?<![目提之以此当當空史事从從先早日年月周週天个個])前(?:天|日)(?![本元圆圓])")
"""今天/今日, 昨天/昨日 and Cantonese 琴日/尋日, 前天/前日; not 今日头条, 目前日本, 之前天气."""
_DAYS_BACK = {"今": 0, "昨": 1, "琴": 1, "寻": 1, "尋": 1, "前": 2}

_CHINESE_WEEKDAY = re.compile(
    r"(?:" + _NOT_AFTER + r"(?P<pre>上上|上|本|这|這|今|呢|下下|下|每|黑色)(?:个|個)?)?"
    r"(?:(?:周|週)(?P<wd1>[一二三四五六日])|(?:星期|礼拜|禮拜)(?P<wd2>[一二三四五六日天]))(?!均)")
"""周五, 星期五, 礼拜五, 上周五, 这周五; "周日均成交" is a daily average, "周天" is no weekday."""
_CHINESE_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}

_CHINESE_WEEK = re.compile(_NOT_AFTER + _PREFIX + r"(?:周|週|星期|礼拜|禮拜)(?!期|边|邊|围|圍|刊)")
"""本周, 上周, 這週, 上个星期, 呢個禮拜; not 本周期 (this cycle), 周边, 周刊."""
_CHINESE_RELATIVE_MONTH = re.compile(_NOT_AFTER + _PREFIX + r"月份?(?:(?P<d>\d{1,2})\s*[日号號])?(?![球亮光])",
                                     _DIGITS)
"""本月, 上个月, 這個月, 上月15日; not 基本月薪, 日本月度, 登上月球."""

_ENGLISH_RELATIVE_DAY = re.compile(r"\b(?:(?:the\s+)?day\s+before\s+yesterday|yesterday|today)\b",
                                   _ENGLISH)
_WEEKDAY_NAME = r"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_ENGLISH_WEEKDAY = re.compile(rf"\b(?P<pre>this\s+past|last|this|on|next)\s+{_WEEKDAY_NAME}\b",
                              _ENGLISH)
"""last Friday, on Friday, this Friday; a bare "Friday" is left alone (Black Friday, Good Friday)."""
_ENGLISH_PERIOD = re.compile(r"\b(?P<pre>this|last)\s+(?P<unit>week|month)\b", _ENGLISH)
_ENGLISH_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _build_chinese_relative_day(match: re.Match[str], anchor: date) -> _Span | None:
    return _one_day(anchor - timedelta(days=_DAYS_BACK[match[0][0]]))


def _build_chinese_weekday(match: re.Match[str], anchor: date) -> _Span | None:
    """A bare weekday is the latest on or before the anchor; 上周五 is Friday of the previous ISO week."""
    weekday = _CHINESE_WEEKDAYS[match["wd1"] or match["wd2"]]
    prefix = match["pre"]
    if prefix is None:
        return _one_day(_on_or_before(anchor, weekday))
    if prefix not in _RELATIVE_PREFIX:
        return None
    return _one_day(_monday(anchor) + timedelta(weeks=_RELATIVE_PREFIX[prefix], days=weekday))


def _build_chinese_week(match: re.Match[str], anchor: date) -> _Span | None:
    weeks = _RELATIVE_PREFIX.get(match["pre"])
    return None if weeks is None else _week(anchor, weeks)


def _build_chinese_month(match: re.Match[str], anchor: date) -> _Span | None:
    """本月, 上个月; with a day (上月15日) the day of that month."""
    months = _RELATIVE_PREFIX.get(match["pre"])
    if months is None:
        return None
    year, month = _months_from(anchor, months)
    if match["d"] is not None:
        return _one_day(_date(year, month, int(match["d"])))
    return _month(year, month)


def _build_english_relative_day(match: re.Match[str], anchor: date) -> _Span | None:
    words = match[0].lower()
    back = 2 if "before" in words else 1 if "yesterday" in words else 0
    return _one_day(anchor - timedelta(days=back))


def _build_english_weekday(match: re.Match[str], anchor: date) -> _Span | None:
    """"last Friday" is the latest Friday before the anchor, "on Friday" the latest on or before it,
    "this Friday" the Friday of the anchor's week; "next Friday" has not happened."""
    weekday = _ENGLISH_WEEKDAYS.index(match["wd"].lower())
    prefix = " ".join(match["pre"].lower().split())
    if prefix in ("last", "this past"):
        return _one_day(_before(anchor, weekday))
    if prefix == "on":
        return _one_day(_on_or_before(anchor, weekday))
    if prefix == "this":
        return _one_day(_monday(anchor) + timedelta(days=weekday))
    return None


def _build_english_period(match: re.Match[str], anchor: date) -> _Span | None:
    back = -1 if match["pre"].lower() == "last" else 0
    if match["unit"].lower() == "week":
        return _week(anchor, back)
    return _month(*_months_from(anchor, back))


_RULES: tuple[tuple[re.Pattern[str], _Build], ...] = (
    (_CHINESE_DAY, _build_chinese_day),
    (_CHINESE_YEAR_MONTH, _build_year_month),
    (_NUMERIC_DAY, _build_numeric_day),
    (_NUMERIC_MONTH, _build_year_month),
    (_SLASH_DAY, _build_slash_day),
    (_ENGLISH_MONTH_DAY, _build_english_day),
    (_ENGLISH_DAY_MONTH, _build_english_day),
    (_ENGLISH_MONTH, _build_english_month),
    (_CHINESE_RELATIVE_DAY, _build_chinese_relative_day),
    (_CHINESE_WEEKDAY, _build_chinese_weekday),
    (_CHINESE_WEEK, _build_chinese_week),
    (_CHINESE_RELATIVE_MONTH, _build_chinese_month),
    (_ENGLISH_RELATIVE_DAY, _build_english_relative_day),
    (_ENGLISH_WEEKDAY, _build_english_weekday),
    (_ENGLISH_PERIOD, _build_english_period),
)
"""Every rule: a pattern over the NFKC question and what a match names (None: no date)."""
