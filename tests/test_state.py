"""state.py: what readers do survives restarts, in a real SQLite file and in a real PostgreSQL database.

Chat settings, usage counters, the question log (and its retention) and votes are each written,
the store closed, and read back by a fresh ``State`` on the same path or URL, as after a restart.
Every test runs against both backends (the ``state_target`` fixture).
"""

from __future__ import annotations

import threading
import time

import pytest
from support.postgres import columns, raw_rows

from bot.telegram.state import (
    LOGGED_QUESTION_CHARS,
    PRUNE_EVERY,
    SCHEMA_VERSION,
    SENT,
    ChatSettings,
    Delivery,
    State,
    day_of,
)

DAY = 86400.0


@pytest.fixture
def path(state_target: str) -> str:
    return state_target


def reopened(path: str, state: State, **options: float) -> State:
    """Close ``state`` and open the same file again, as a restarted bot does."""
    state.close()
    return State(path, **options)


def test_chat_settings_default_to_nothing_chosen_and_survive_a_restart(path: str) -> None:
    state = State(path)
    assert state.chat_settings(42) == ChatSettings(None, None)
    state.set_chat_lang(42, "zh")
    state.set_chat_per_page(42, 5)
    state.set_chat_per_page(-100123, 1)
    state = reopened(path, state)
    assert state.chat_settings(42) == ChatSettings("zh", 5)
    assert state.chat_settings(-100123) == ChatSettings(None, 1)
    state.set_chat_lang(42, None)  # back to each user's own language; the page size stays
    assert state.chat_settings(42) == ChatSettings(None, 5)
    assert state.chat_settings(7) == ChatSettings()
    state.close()


def test_a_stored_question_remembers_its_chat(path: str) -> None:
    state = State(path)
    asked = state.remember("ask", "DeepSeek", chat_id=42)
    tag = state.remember("tag", "iyiou")
    state = reopened(path, state)
    stored = state.recall(asked)
    assert stored is not None and (stored.kind, stored.text, stored.chat_id) == ("ask", "DeepSeek", 42)
    recalled_tag = state.recall(tag)
    assert recalled_tag is not None and recalled_tag.chat_id is None
    state.close()


def test_usage_counters_add_up_per_day_and_survive_a_restart(path: str) -> None:
    now = time.time()
    state = State(path)
    for _ in range(3):
        state.count_usage("/tag")
    state.count_usage("question")
    state.count_usage("/tag", when=now - 3 * DAY)
    state.count_usage("tag:iyiou", when=now - 10 * DAY)
    state = reopened(path, state)
    assert state.usage(now) == {"/tag": 3, "question": 1}
    assert state.usage(now - 3 * DAY) == {"/tag": 4, "question": 1}
    assert state.usage(now - 30 * DAY) == {"/tag": 4, "question": 1, "tag:iyiou": 1}
    rows = raw_rows(path, "SELECT day, count FROM usage WHERE name = '/tag' ORDER BY day")
    assert rows == [(day_of(now - 3 * DAY), 1), (day_of(now), 3)]
    state.close()


def test_the_question_log_keeps_what_the_report_needs_and_no_user(path: str) -> None:
    state = State(path)
    asked = time.time() - 60
    state.log_question("DeepSeek V3 的训练成本是多少？", "private", True, 4.25, query_id=9, when=asked)
    state.log_question("how to bake a cake", "supergroup", False, 2.0)
    state.log_question("x" * 10_000, "group", False, 1.0)
    state = reopened(path, state)
    logged = state.logged_questions(asked - 1)
    assert [(q.question, q.chat_type, q.found, q.latency_ms, q.query_id) for q in logged[:2]] == [
        ("DeepSeek V3 的训练成本是多少？", "private", True, 4.25, 9), ("how to bake a cake", "supergroup", False, 2.0, None)]
    assert logged[0].asked == pytest.approx(asked)
    assert len(logged[2].question) == LOGGED_QUESTION_CHARS and logged[2].question.endswith("…")
    assert state.logged_questions(time.time() + 1) == []
    assert not {"user_id", "chat_id"} & columns(path, "query_log")
    state.close()


def test_a_vote_is_one_per_answer_and_user_and_a_second_press_changes_it(path: str) -> None:
    state = State(path)
    answer = state.remember("ask", "英伟达股价", chat_id=42)
    other = state.remember("ask", "Bitcoin", chat_id=42)
    assert state.vote(answer, user_id=1, vote=1) is None
    assert state.vote(answer, user_id=1, vote=1) == 1
    assert state.vote(answer, user_id=2, vote=-1) is None
    state = reopened(path, state)
    assert state.vote(answer, user_id=1, vote=-1) == 1  # changed after a restart
    assert state.vote(other, user_id=1, vote=-1) is None
    votes = sorted((v.query_id, v.user_id, v.vote, v.question) for v in state.votes(0))
    assert votes == [(answer, 1, -1, "英伟达股价"), (answer, 2, -1, "英伟达股价"), (other, 1, -1, "Bitcoin")]
    with pytest.raises(ValueError):
        state.vote(answer, user_id=3, vote=0)
    state.close()


def test_old_questions_and_votes_are_pruned_on_opening(path: str) -> None:
    now = time.time()
    state = State(path, query_log_days=30)
    answer = state.remember("ask", "old question")
    state.log_question("old question", "private", False, 1.0, when=now - 31 * DAY)
    state.log_question("recent question", "private", True, 1.0, when=now - 29 * DAY)
    state.vote(answer, 1, -1, when=now - 31 * DAY)
    state.vote(answer, 2, 1, when=now - 29 * DAY)
    state.count_usage("question", when=now - 400 * DAY)
    state = reopened(path, state, query_log_days=30)
    assert [q.question for q in state.logged_questions(0)] == ["recent question"]
    assert [v.user_id for v in state.votes(0)] == [2]
    assert state.usage(0) == {"question": 1}  # counters hold no person and are kept
    assert state.recall(answer) is not None  # buttons keep working
    state = reopened(path, state, query_log_days=1)
    assert state.logged_questions(0) == [] and state.votes(0) == []
    state.close()


def test_buttons_older_than_the_retention_expire_with_the_links_to_them(path: str) -> None:
    now = time.time()
    state = State(path, query_log_days=30)
    old = state.remember("ask", "old question", chat_id=42, when=now - 31 * DAY)
    old_article = state.remember("article", "news/old.md", "Old", when=now - 31 * DAY)
    old_tag = state.remember("tag", "iyiou", when=now - 31 * DAY)
    voted = state.remember("ask", "voted on", chat_id=42, when=now - 31 * DAY)
    recent = state.remember("ask", "recent question", chat_id=42, when=now - 29 * DAY)
    state.vote(voted, 1, -1, when=now - 2 * DAY)
    for message_id, query_id in ((1, old), (2, recent), (3, voted)):
        state.link_reply(42, message_id, query_id)
    state = reopened(path, state, query_log_days=30)
    assert state.recall(old) is None and state.recall(old_article) is None and state.recall(old_tag) is None
    assert state.query_for_reply(42, 1) is None
    kept = state.query_for_reply(42, 2)
    assert kept is not None and kept.id == recent
    assert [v.question for v in state.votes(0)] == ["voted on"]  # kept while its vote is, for the report
    [(links,)] = raw_rows(path, "SELECT count(*) FROM replies")
    assert links == 2
    # a month later the vote goes, and with it the question it kept; the recent one has aged too
    assert state.prune_log(now=now + 30 * DAY) == 1 + 2 + 2  # the vote, two links, two questions
    assert state.recall(voted) is None and state.recall(recent) is None
    state.close()


def test_a_running_bot_prunes_as_it_logs(path: str) -> None:
    state = State(path, query_log_days=2)
    state.log_question("stale", "private", False, 1.0, when=time.time() - 3 * DAY)
    for number in range(PRUNE_EVERY - 2):
        state.log_question(f"q{number}", "private", True, 1.0)
    assert "stale" in {q.question for q in state.logged_questions(0)}
    state.log_question("the hundredth", "private", True, 1.0)  # the PRUNE_EVERY-th logged: prunes
    questions = {q.question for q in state.logged_questions(0)}
    assert "stale" not in questions and len(questions) == PRUNE_EVERY - 1
    assert state.prune_log(now=time.time() + 3 * DAY) == PRUNE_EVERY - 1  # and says how many went
    state.close()


def test_concurrent_handlers_count_without_losing_updates(path: str) -> None:
    """Handlers run in threads (asyncio.to_thread); the counters must not lose increments."""
    state = State(path)

    def work() -> None:
        for _ in range(50):
            state.count_usage("button")
            state.log_question("q", "private", True, 1.0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = reopened(path, state)
    assert state.usage(0)["button"] == 400
    assert len(state.logged_questions(0)) == 400
    state.close()


# --- following tags: follows and the outbox -----------------------------------------------------

def test_follows_are_per_bot_and_chat_survive_a_restart_and_change_mode(path: str) -> None:
    state = State(path)
    assert state.follow(1, 42, "iyiou", "iyiou", False, "en") is False
    assert state.follow(1, 42, "iyiou", "iyiou", True, "en") is True  # followed already: now daily
    state.follow(2, 42, "ai", "AI", False, None)  # another bot on the same file
    assert state.follow(1, 42, "ai", "AI", False, None, limit=1) is None  # the most one chat may follow
    state = reopened(path, state)
    assert [(f.key, f.daily) for f in state.follows_of(1, 42)] == [("iyiou", True)]
    assert [f.chat_id for f in state.followers(2, ["ai", "nothing"])] == [42]
    assert state.followers(1, ["iyiou"], daily=False) == []
    assert state.unfollow(1, 42, "iyiou") and not state.unfollow(1, 42, "iyiou")


def test_the_outbox_sends_each_chat_and_item_once_and_resumes_after_a_restart(path: str) -> None:
    state = State(path, outbox_lease=0)  # claims expire at once here (the claim tests below check leases)
    buttons = (({"label": "Summary", "data": "a:1"},),)
    first = Delivery("a:fish.md", "<b>fish</b>", buttons, (1, 2, 3))
    assert state.queue_deliveries(9, [first]) == 3
    assert state.queue_deliveries(9, [Delivery("a:fish.md", "<b>again</b>", (), (2, 4))]) == 1  # only chat 4 is new
    due = state.due_deliveries(9, time.time(), 10)
    assert [(row.chat_id, row.html) for row in due] == [(1, "<b>fish</b>"), (2, "<b>fish</b>"), (3, "<b>fish</b>"),
                                                        (4, "<b>again</b>")]
    assert due[0].buttons == buttons
    state.delivered(due[0].rowid, SENT)
    state.postpone(due[1].rowid, time.time() + 60)
    state = reopened(path, state, outbox_lease=0)  # a restart: what was sent stays sent, the rest resumes
    assert [row.chat_id for row in state.due_deliveries(9, time.time(), 10)] == [3, 4]
    assert [row.chat_id for row in state.due_deliveries(9, time.time(), 10, skip=[3])] == [4]
    assert state.pending_deliveries(9) == 3 and state.due_deliveries(8, time.time(), 10) == []
    state.follow(9, 3, "iyiou", "iyiou", False, None)
    assert state.drop_chat(9, 3) == 1 and state.drop_chat(9, 3) == 0
    assert [row.chat_id for row in state.due_deliveries(9, time.time(), 10)] == [4]
    assert state.outbox_outcomes(9, 0) == {"sent": 1, "pending": 2, "dropped": 1}


def test_digest_runs_are_recorded_with_their_digests_and_old_rows_pruned(path: str) -> None:
    state = State(path, query_log_days=1)
    now = time.time()
    state.record_arrivals([("iyiou", "fish.md", "Fish")], when=now - 10)
    assert state.arrivals("iyiou", now - 20, now) == [("fish.md", "Fish")]
    assert state.arrivals("iyiou", now - 5, now) == []
    state.queue_deliveries(1, [Delivery("d:iyiou:day", "<b>digest</b>", (), (5,))], when=now - 3 * DAY,
                           digest_moment=now - 3 * DAY)
    state.queue_deliveries(1, [], digest_moment=now - 2 * DAY)
    assert state.last_digest(1) == now - 2 * DAY
    [row] = state.due_deliveries(1, now, 10)
    state.delivered(row.rowid, when=now - 3 * DAY)
    assert state.prune_outbox(now) == 1
    assert state.last_digest(1) == now - 2 * DAY  # the latest run is kept, however old
    assert state.outbox_outcomes(1, 0) == {}


def test_the_schema_version_is_recorded_and_opening_again_migrates_nothing(path: str) -> None:
    state = State(path)
    assert state.schema_version() == SCHEMA_VERSION
    state = reopened(path, state)
    assert state.schema_version() == SCHEMA_VERSION
    assert raw_rows(path, "SELECT COUNT(*) FROM schema_version") == [(SCHEMA_VERSION,)]  # one row per version
    assert {"owner", "lease_until"} <= columns(path, "updates") & columns(path, "outbox")
    state.close()


def test_an_update_is_claimed_by_one_replica_and_taken_over_when_its_claim_expires(path: str) -> None:
    first = State(path, update_lease=0.5, owner="replica-1")
    second = State(path, update_lease=0.5, owner="replica-2")
    first.receive_update(7, 100, '{"update_id": 100}')
    second.receive_update(7, 100, '{"update_id": 100}')  # Telegram's retry reached the other replica
    assert second.claim_update(7, 100) is None  # the first replica's claim lasts
    assert second.unhandled_updates(7) == []
    assert first.claim_update(7, 100) is not None
    time.sleep(0.6)  # the first replica died before answering: its claim expires
    assert second.unhandled_updates(7) == [(100, '{"update_id": 100}')]
    assert second.claim_update(7, 100) is not None
    assert first.claim_update(7, 100) is None  # back from the dead, it finds the update taken
    time.sleep(0.3)
    assert second.renew_updates(7, [100]) == 1 and first.renew_updates(7, [100]) == 0  # only one's own
    time.sleep(0.35)  # past the claim's first lease, within the renewed one
    assert first.claim_update(7, 100) is None  # renewed: still the second replica's
    second.mark_update_handled(7, 100)
    assert second.claim_update(7, 100) is None and first.claim_update(7, 100) is None
    assert first.unhandled_updates(7) == [] and first.update_handled(7, 100)
    first.close()
    second.close()


def test_of_replicas_claiming_one_update_at_once_exactly_one_gets_it(path: str) -> None:
    replicas = [State(path, update_lease=30, owner=f"replica-{n}") for n in range(4)]
    for update_id in range(1, 21):
        results: list[object] = []
        barrier = threading.Barrier(len(replicas))

        def claim(state: State, update_id: int = update_id) -> None:
            barrier.wait()
            results.append(state.claim_update(7, update_id))

        threads = [threading.Thread(target=claim, args=(state,)) for state in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(result is not None for result in results) == 1, update_id
    for state in replicas:
        state.close()


def test_outbox_rows_are_claimed_by_one_replica_and_released_or_taken_over(path: str) -> None:
    first = State(path, outbox_lease=0.5, owner="replica-1")
    second = State(path, outbox_lease=0.5, owner="replica-2")
    first.queue_deliveries(9, [Delivery("a:fish.md", "<b>fish</b>", (), (1, 2, 3, 4))])
    second.queue_deliveries(9, [Delivery("a:fish.md", "<b>fish</b>", (), (1, 2, 3, 4))])  # both saw the article
    assert first.pending_deliveries(9) == 4  # queued once in all
    mine = first.due_deliveries(9, time.time(), 2)
    theirs = second.due_deliveries(9, time.time(), 10)
    assert [row.chat_id for row in mine] == [1, 2] and [row.chat_id for row in theirs] == [3, 4]
    assert second.due_deliveries(9, time.time(), 10) == []
    first.release_deliveries([mine[1].rowid])  # taken but not sent: free again at once
    assert [row.chat_id for row in second.due_deliveries(9, time.time(), 10)] == [2]
    first.delivered(mine[0].rowid, SENT)
    assert (second.next_due(9) or 0) > time.time()  # nothing to look at before the claims expire
    time.sleep(0.6)  # the second replica died mid-batch
    assert sorted(row.chat_id for row in first.due_deliveries(9, time.time(), 10)) == [2, 3, 4]
    first.close()
    second.close()


def test_rate_limits_count_every_replica_s_requests(path: str) -> None:
    first, second = State(path, owner="replica-1"), State(path, owner="replica-2")
    now = 1_000_000 * 60.0 + 30
    waits = [(first if n % 2 else second).count_request(42, 5, now + n) for n in range(7)]
    assert waits[:5] == [0] * 5 and all(wait > 0 for wait in waits[5:])
    assert first.count_request(43, 5, now) == 0  # another user has a window of their own
    assert first.count_request(42, 5, now + 120) == 0  # two minutes on, the window has slid past
    assert first.shared_value("webhook_secret", "a") == second.shared_value("webhook_secret", "b") == "a"
    first.close()
    second.close()


def test_one_process_at_a_time_holds_a_named_lock_of_a_shared_database(postgres_server: object) -> None:
    """What keeps replicas from re-indexing one change together (``Reloader.exclusive``): a PostgreSQL
    advisory lock, held by one State (one replica's pool) while the other waits for it."""
    url = postgres_server.fresh_database()  # type: ignore[attr-defined]
    first, second = State(url, owner="replica-1"), State(url, owner="replica-2")
    held = threading.Event()
    spans: list[tuple[str, float, float]] = []

    def index(state: State, name: str) -> None:
        with state.exclusive("corpus-index"):
            start = time.monotonic()
            held.set()
            time.sleep(0.4)
            spans.append((name, start, time.monotonic()))

    thread = threading.Thread(target=index, args=(first, "first"))
    thread.start()
    assert held.wait(10)
    index(second, "second")
    thread.join()
    (_, _, first_end), (_, second_start, _) = sorted(spans, key=lambda span: span[1])
    assert second_start >= first_end  # one after the other, never together
    with first.exclusive("another-name"), second.exclusive("corpus-index"):
        pass  # other names do not wait
    first.close()
    second.close()
