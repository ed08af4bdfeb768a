"""What readers asked and what the articles did not answer, from the state file.

Editors read it to learn what their readers miss: questions per day, how fast they were answered,
the questions that found nothing or got 👎 most, and the tags opened most. One computation
(``build_report``) serves both ``articlebot report`` (text or JSON) and the admins' ``/stats``
(Telegram HTML), so the two never disagree. No Telegram import.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from datetime import time as clock
from typing import Any

from bot.search.evaluation import percentile
from bot.telegram.replies import escape, pack, shorten
from bot.telegram.state import LoggedQuestion, State, Vote, day_of
from bot.telegram.strings import strings

DEFAULT_DAYS = 7
"""Days a report covers unless asked otherwise: a week is what an editor looks back on."""
TOP = 10
"""Entries in each "most" list."""
SHOWN_CHARS = 120
"""Questions are shortened to this in the text and HTML reports (the JSON has them whole)."""
TAG_PREFIX = "tag:"
"""Usage counters named ``tag:<name>`` count the tags readers opened (``/tag``, tag buttons, deep links)."""


@dataclass(frozen=True)
class Day:
    day: str
    questions: int
    nothing: int


@dataclass(frozen=True)
class Delivered:
    """Messages to the followers of tags that Telegram accepted on one day."""

    day: str
    messages: int


@dataclass(frozen=True)
class Asked:
    """A question (or tag) and how often it was asked."""

    text: str
    times: int


@dataclass(frozen=True)
class Disliked:
    """A question whose answers got 👎, with the 👍 the same question got."""

    question: str
    down: int
    up: int


@dataclass(frozen=True)
class Report:
    """Every figure of a report; ``as_json`` is exactly what ``articlebot report --json`` prints."""

    days: int
    since: str
    until: str
    questions: int
    nothing: int
    latency_p50_ms: float
    latency_p99_ms: float
    per_day: tuple[Day, ...]
    chat_types: dict[str, int]
    unanswered: tuple[Asked, ...]
    disliked: tuple[Disliked, ...]
    up: int
    down: int
    tags: tuple[Asked, ...]
    usage: dict[str, int]
    follows: dict[str, int]
    """Chats following each tag or topic, now, most followed first."""
    deliveries: tuple[Delivered, ...]
    """Messages to followers (new articles, daily digests) per day of the report."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def window(days: int, now: float) -> tuple[datetime, datetime]:
    """The first and last local day of the report: today and the ``days - 1`` days before it."""
    today = datetime.fromtimestamp(now).date()
    first = today - timedelta(days=days - 1)
    return datetime.combine(first, clock.min), datetime.combine(today, clock.min)


def build_report(state: State, days: int = DEFAULT_DAYS, now: float | None = None, top: int = TOP) -> Report:
    """The report for the last ``days`` days (today included), from the question log, votes and counters."""
    if days < 1:
        raise ValueError("a report covers at least one day")
    now = datetime.now().timestamp() if now is None else now
    first, last = window(days, now)
    since = first.timestamp()
    logged = [q for q in state.logged_questions(since) if q.asked <= now]
    votes = [v for v in state.votes(since) if v.voted <= now]
    usage = state.usage(since)
    latencies = [q.latency_ms for q in logged]
    return Report(
        days=days, since=f"{first:%Y-%m-%d}", until=f"{last:%Y-%m-%d}",
        questions=len(logged), nothing=sum(not q.found for q in logged),
        latency_p50_ms=round(percentile(latencies, 0.5), 1),
        latency_p99_ms=round(percentile(latencies, 0.99), 1),
        per_day=_per_day(logged, first, days),
        chat_types=dict(Counter(q.chat_type or "unknown" for q in logged).most_common()),
        unanswered=_most_asked([q.question for q in logged if not q.found], top),
        disliked=_disliked(votes, top),
        up=sum(v.vote > 0 for v in votes), down=sum(v.vote < 0 for v in votes),
        tags=tuple(Asked(name[len(TAG_PREFIX):], n) for name, n in sorted(usage.items(), key=_by_count)
                   if name.startswith(TAG_PREFIX))[:top],
        usage={name: n for name, n in sorted(usage.items()) if not name.startswith(TAG_PREFIX)},
        follows=state.follow_counts(),
        deliveries=_deliveries(state.deliveries_per_day(since), first, days),
    )


def _deliveries(per_day: dict[str, int], first: datetime, days: int) -> tuple[Delivered, ...]:
    names = [f"{first + timedelta(days=n):%Y-%m-%d}" for n in range(days)]
    return tuple(Delivered(name, per_day.get(name, 0)) for name in names)


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _key(question: str) -> str:
    """Questions that differ only in case or spacing are the same question."""
    return " ".join(question.split()).casefold()


def _per_day(logged: list[LoggedQuestion], first: datetime, days: int) -> tuple[Day, ...]:
    asked = Counter(day_of(q.asked) for q in logged)
    missed = Counter(day_of(q.asked) for q in logged if not q.found)
    names = [f"{first + timedelta(days=n):%Y-%m-%d}" for n in range(days)]
    return tuple(Day(name, asked[name], missed[name]) for name in names)


def _most_asked(questions: list[str], top: int) -> tuple[Asked, ...]:
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for question in questions:
        key = _key(question)
        counts[key] += 1
        shown[key] = question.strip()  # the latest wording
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Asked(shown[key], n) for key, n in ranked[:top])


def _disliked(votes: list[Vote], top: int) -> tuple[Disliked, ...]:
    down: Counter[str] = Counter()
    up: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for vote in votes:
        key = _key(vote.question)
        (down if vote.vote < 0 else up)[key] += 1
        shown[key] = vote.question.strip()
    ranked = sorted(down, key=lambda key: (-down[key], up[key], key))
    return tuple(Disliked(shown[key], down[key], up[key]) for key in ranked[:top])


# --- output --------------------------------------------------------------------------------

def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def report_text(report: Report) -> str:
    """The report for a terminal (``articlebot report``)."""
    lines = [f"last {report.days} day(s), {report.since} – {report.until}",
             (f"questions: {report.questions}, nothing found: {report.nothing} "
              f"({_share(report.nothing, report.questions)})"),
             f"latency ms: p50 {report.latency_p50_ms:g}, p99 {report.latency_p99_ms:g}",
             f"feedback: {report.up} 👍, {report.down} 👎"]
    if report.chat_types:
        lines.append("chats: " + ", ".join(f"{kind} {n}" for kind, n in report.chat_types.items()))
    lines += ["", "questions per day:"]
    lines += [f"  {day.day}  {day.questions:>5}" + (f"  ({day.nothing} nothing found)" if day.nothing else "")
              for day in report.per_day]
    sections: list[tuple[str, list[str]]] = [
        ("found nothing, most asked:",
         [f"  {a.times:>4}×  {shorten(a.text, SHOWN_CHARS)}" for a in report.unanswered]),
        ("got 👎 most:",
         [f"  {d.down:>4}👎 {d.up}👍  {shorten(d.question, SHOWN_CHARS)}" for d in report.disliked]),
        ("tags opened most:", [f"  {a.times:>4}×  {a.text}" for a in report.tags]),
        ("requests:", [f"  {n:>6}  {name}" for name, n in report.usage.items()]),
        ("follows per tag:", [f"  {n:>6}  {name}" for name, n in report.follows.items()]),
        ("deliveries to followers per day:",
         [f"  {d.day}  {d.messages:>5}" for d in report.deliveries] if any(d.messages for d in report.deliveries)
         else []),
    ]
    for title, body in sections:
        lines += ["", title] + (body or ["  (none)"])
    return "\n".join(lines)


def report_html(report: Report, lang: str | None) -> list[str]:
    """The report as Telegram HTML messages (each ≤ 4096 characters), for ``/stats``."""
    t = strings(lang)
    head = "\n".join([
        f"<b>{escape(t['report_title'].format(days=report.days, since=report.since, until=report.until))}</b>",
        escape(t["report_questions"].format(n=report.questions, nothing=report.nothing,
                                            share=_share(report.nothing, report.questions))),
        escape(t["report_latency"].format(p50=f"{report.latency_p50_ms:g}", p99=f"{report.latency_p99_ms:g}")),
        escape(t["report_feedback"].format(up=report.up, down=report.down))])
    days = [f"{d.day}: {d.questions}" + (f" (∅ {d.nothing})" if d.nothing else "") for d in report.per_day]
    sections = [
        (t["report_per_day"], days),
        (t["report_unanswered"], [f"{a.times}× {shorten(a.text, SHOWN_CHARS)}" for a in report.unanswered]),
        (t["report_disliked"], [f"{d.down}👎 {d.up}👍 {shorten(d.question, SHOWN_CHARS)}" for d in report.disliked]),
        (t["report_tags"], [f"{a.times}× #{a.text}" for a in report.tags]),
        (t["report_usage"], [", ".join(f"{name} {n}" for name, n in report.usage.items())] if report.usage else []),
        (t["report_follows"], [", ".join(f"#{name} {n}" for name, n in report.follows.items())]
         if report.follows else []),
        (t["report_deliveries"], [f"{d.day}: {d.messages}" for d in report.deliveries]
         if any(d.messages for d in report.deliveries) else []),
    ]
    blocks = [head] + [f"<b>{escape(title)}</b>\n" + escape("\n".join(body or [t["report_none"]]))
                       for title, body in sections]
    return pack(blocks)
