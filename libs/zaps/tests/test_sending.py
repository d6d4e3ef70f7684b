"""zaps.sending: a step's verdict on a try cut off by its deadline, and an action's "sending now", agree."""

import asyncio

import pytest
from zaps import sending


def test_outside_a_step_an_action_s_marks_do_nothing():
    sending.not_sent()
    sending.sent()
    assert sending.current() is None


def test_a_try_cut_off_before_its_request_left_lets_nothing_leave_after():
    with sending.tracking(1.0) as attempt:
        sending.not_sent()
        assert attempt.cut() is False  # the step calls it "not sent" ...
        with pytest.raises(sending.CutOff):
            sending.sent()  # ... and an action still going (a thread) may not make that false
        assert attempt.left is False


def test_a_try_cut_off_after_its_request_left_is_unsure_and_one_that_said_nothing_is_unknown():
    with sending.tracking(1.0) as attempt:
        sending.not_sent()
        sending.sent()
        assert attempt.cut() is True
    with sending.tracking(1.0) as silent:
        assert silent.cut() is None


async def test_a_thread_sees_its_step_s_try():
    with sending.tracking(2.5) as attempt:
        sending.not_sent()
        seen = await asyncio.to_thread(lambda: (sending.sent(), sending.current())[1])
    assert seen is attempt and attempt.left is True and seen.timeout_s == 2.5
    assert sending.current() is None
