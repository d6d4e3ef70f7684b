"""docs/connectors.md's table of what each step does when unsure says what the code's defaults are.

Rows whose rule is fixed by a default argument are read from the function's signature; the three whose rule is
worked out at run time (run.http, append_row, the SMS reply) are proved by their own behaviour tests
(test_run_http.py, connectors/test_sheets.py, ringcentral-service's SMS tests) and only listed here.
"""

import inspect
import re
from pathlib import Path

from zaps.connectors import hubspot, sheets, slack, teams
from zaps.engine.run import Run

DOC = Path(__file__).resolve().parents[3] / "docs" / "connectors.md"
COMPUTED = {"run.http", "zaps.connectors.sheets.append_row", "RingCentral SMS reply (sms_reply)"}
FUNCTIONS = {
    "run.webhook": [Run.webhook],
    "run.slack (incoming webhook)": [Run.slack],
    "run.email": [Run.email],
    "run.step": [Run.step],
    "zaps.connectors.teams.post_card, post_text": [teams.post_card, teams.post_text],
    "zaps.connectors.slack.post_message": [slack.post_message],
    "zaps.connectors.sheets.upsert_row": [sheets.upsert_row],
    "zaps.connectors.hubspot.upsert_contact, log_call, create_note": [
        hubspot.upsert_contact,
        hubspot.log_call,
        hubspot.create_note,
    ],
}


def table_rows() -> dict[str, str]:
    text = DOC.read_text()
    # Up to the next section: the worked examples after it hold code whose lines may have pipes.
    section = text.split("## What each connector does when a step is unsure", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("step", "---"):
            rows[cells[0].replace("`", "")] = cells[1]
    return rows


def test_every_step_with_a_fixed_default_is_in_the_table_with_that_default():
    rows = table_rows()
    assert set(rows) == set(FUNCTIONS) | COMPUTED
    for name, functions in FUNCTIONS.items():
        documented = re.fullmatch(r"`(resend|check|hold)`", rows[name])
        assert documented, f"{name}: {rows[name]!r} is not one rule"
        for function in functions:
            default = inspect.signature(function).parameters["on_unsure"].default
            assert default == documented.group(1), f"{function.__qualname__} defaults to {default!r}"
