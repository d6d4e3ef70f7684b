"""A service's settings class flows through the library's types: mypy checks `run.settings.<field>` in a handler,
`poll.runtime.settings` in a poller and a route's runtime, against the class that declares them.

The probe below is checked by mypy with the project's own configuration (strict). Each line marked `# error` must
be reported, and no other: were settings or the runtime typed `Any` anywhere on the way, the marked lines would pass.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[3]

PROBE = """
from typing import Annotated

from fastapi import Depends
from pydantic import SecretStr
from zaps import PollContext, PollResult, Run, Service, ZapsSettings, webhook
from zaps.context import Runtime, runtime_of


class ShopSettings(ZapsSettings):
    orders_secret: SecretStr = SecretStr("orders-secret")
    minimum_total: float = 100


class OtherSettings(ZapsSettings):
    other_field: int = 1


service = Service(ShopSettings)


@service.automation(webhook(secret_setting="orders_secret"))
async def orders(run: Run[ShopSettings]) -> None:
    minimum: float = run.settings.minimum_total
    through_runtime: float = run.runtime.settings.minimum_total
    wrong_type: str = run.settings.minimum_total  # error
    run.settings.minimum_totl  # error


@service.automation(webhook(secret_setting="orders_secret"))  # error
async def of_another_service(run: Run[OtherSettings]) -> None:
    pass


@service.poller("feed", every_setting="minimum_total")
async def feed(poll: PollContext[ShopSettings]) -> PollResult:
    minimum: float = poll.runtime.settings.minimum_total
    named: int = poll.runtime.settings.service_name  # error
    return PollResult()


ShopRuntime = Annotated[Runtime[ShopSettings], Depends(runtime_of(ShopSettings))]


async def route(runtime: ShopRuntime) -> float:
    runtime.settings.other_field  # error
    return runtime.settings.minimum_total
"""


def test_mypy_checks_settings_fields_through_runs_polls_and_routes(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(PROBE))
    expected = {number for number, line in enumerate(probe.read_text().splitlines(), 1) if line.endswith("# error")}

    # The project's configuration and cache (warm after `make typecheck`), so the probe is checked as services are.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(probe)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    reported = {int(number) for number in re.findall(rf"^{re.escape(str(probe))}:(\d+): error", result.stdout, re.M)}
    assert reported == expected, result.stdout + result.stderr
