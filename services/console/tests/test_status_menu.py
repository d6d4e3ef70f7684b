"""The console offers every run status, and shows each with a label of its own: none is forgotten when one is
added to `zaps.engine.statuses.RunStatus`."""

from zaps.engine.statuses import RunStatus
from zaps_console import views
from zaps_console.filters import STATUS_CHOICES


def test_the_status_menu_lists_every_run_status_once():
    assert sorted(STATUS_CHOICES) == sorted(RunStatus)


def test_every_run_status_has_its_own_look():
    assert set(views.STATUSES) == set(RunStatus)
    # Not the fallback look an unknown status gets (its tooltip is the bare status).
    assert all(views.status_look(status).meaning != status for status in RunStatus)
