"""Retry-After is read the same way for every action and service: seconds or an HTTP date, never a crash. The retry
schedule: the default spans Zapier's autoreplay window, as the docs' table says; Retry-After still wins."""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from zaps.retry import DEFAULT_DELAYS, ZAPIER_AUTOREPLAY_WINDOW, Retry, parse_retry_after

NOW = datetime(2026, 12, 2, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0.25", 0.25),
        ("-5", 0.0),
        ("Wed, 02 Dec 2026 07:29:30 GMT", 90.0),
        ("Wed, 02 Dec 2026 07:00:00 GMT", 0.0),  # a date already past means "now"
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(header, seconds):
    assert parse_retry_after(header, now=NOW) == seconds


def test_an_http_date_counts_from_the_current_time_when_no_clock_is_given():
    in_a_minute = datetime.now(UTC).timestamp() + 60
    header = datetime.fromtimestamp(in_a_minute, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")

    seconds = parse_retry_after(header)

    assert seconds is not None
    assert 55 <= seconds <= 60


# --- the retry schedule ------------------------------------------------------------------------------------------

DOCS = Path(__file__).parents[3] / "docs" / "automations.md"


def spoken(seconds: float) -> str:
    """5 s, 2 min 24 s, 1 h 12 min: as the docs' table writes a duration."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(part for part in parts if part) or "0 s"


def test_the_default_schedule_spans_zapier_s_autoreplay_window():
    retry = Retry()
    shortest, longest = retry.total()
    assert retry.max_attempts == 10
    # Zapier's last autoreplay comes ~10 h 35 min after the first error; the default's last try never earlier.
    assert shortest >= ZAPIER_AUTOREPLAY_WINDOW
    assert shortest == timedelta(hours=10, minutes=42, seconds=35)
    assert longest == shortest * 1.2


def test_the_docs_give_the_default_schedule_as_it_is():
    retry, since_first = Retry(), 0.0
    table = DOCS.read_text()
    for attempt in range(1, retry.max_attempts):
        low, high = retry.bounds(attempt)
        since_first += low
        row = f"| {attempt + 1} | {spoken(low)} to {spoken(high)} | {spoken(since_first)} |"
        assert row in table, row
    low, high = retry.total()
    assert f"in all: {spoken(low.total_seconds())} to {spoken(high.total_seconds())}" in table


def test_a_delay_is_never_earlier_than_the_schedule_and_at_most_its_jitter_later():
    retry, rng = Retry(), random.Random(12)
    for attempt, base in enumerate(DEFAULT_DELAYS, start=1):
        for _ in range(200):
            assert base.total_seconds() <= retry.delay(attempt, rng=rng) <= base.total_seconds() * 1.2


def test_retry_after_wins_over_a_shorter_delay_and_an_absurd_one_is_trimmed():
    retry = Retry(delays=(timedelta(seconds=5),), jitter=0)
    assert retry.delay(1, retry_after=90) == 90
    assert retry.delay(1, retry_after=1) == 5  # a shorter wish does not hurry the schedule
    assert retry.delay(1, retry_after=10 * 24 * 3600) == 3600  # max_retry_after


def test_a_schedule_is_cut_or_extended_and_an_empty_one_tries_once():
    assert Retry(delays=()).max_attempts == 1
    three = Retry().up_to(3)
    assert three.delays == DEFAULT_DELAYS[:2] and three.max_attempts == 3
    twelve = Retry().up_to(12)
    assert twelve.delays[-3:] == (timedelta(hours=4),) * 3
    fast = Retry.exponential(attempts=4, first=timedelta(seconds=1), cap=timedelta(seconds=3))
    assert fast.delays == (timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=3))
    with pytest.raises(ValueError, match="negative"):
        Retry(delays=(timedelta(seconds=-1),))
