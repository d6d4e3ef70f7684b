"""Retry-After is read the same way for every action and service: seconds or an HTTP date, never a crash."""

from datetime import UTC, datetime

import pytest
from zaps.retry import parse_retry_after

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
