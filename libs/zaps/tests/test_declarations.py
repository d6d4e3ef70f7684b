"""What a service declares is attached, or the start stops naming the mistake (zaps.declarations).

Each test writes a small service package of its own to disk, as a developer would, and makes its app.
"""

import sys
import textwrap
import uuid

import pytest
from zaps.declarations import DeclarationError

SETTINGS = """
from pydantic import SecretStr
from zaps import ZapsSettings


class Settings(ZapsSettings):
    service_name: str = "shop"
    path_prefix: str = "/api/shop"
    orders_secret: SecretStr = SecretStr("orders-secret-0123456789")
    report_cron: str = "0 8 * * *"
    feed_every_s: float = 60
"""

ORDERS = """
from zaps import Run, webhook

from {package}.service import service
from {package}.settings import Settings


@service.automation(webhook(secret_setting="orders_secret"))
async def orders(run: Run[Settings]) -> None:
    pass
"""

REPORTS = """
from zaps import Run, schedule

from {package}.service import service
from {package}.settings import Settings


@service.automation(schedule(cron_setting="report_cron"))
async def daily_report(run: Run[Settings]) -> None:
    pass
"""


@pytest.fixture
def write_service(tmp_path, monkeypatch):
    """Write a service package (service.py builds the Service with `automations`) and import its service."""
    written = []

    def write(modules: dict[str, str], automations: list[str]):
        package = f"shop_{uuid.uuid4().hex[:8]}"
        root = tmp_path / package
        root.mkdir()
        listed = [f"{package}.{name}" for name in automations]
        files = {
            "__init__": "",
            "settings": SETTINGS,
            "service": "from zaps import Service\n\nfrom {package}.settings import Settings\n\n"
            f"service = Service(Settings, automations={listed!r})\n",
            **modules,
        }
        for name, source in files.items():
            (root / f"{name}.py").write_text(textwrap.dedent(source).replace("{package}", package))
        written.append(package)
        module = __import__(f"{package}.service", fromlist=["service"])
        return module.service, root

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in [m for m in sys.modules if m.split(".")[0] in written]:
        del sys.modules[name]


def settings_of(service, make_settings):
    return make_settings(service.settings_class, run_worker=False)


def test_listed_modules_are_loaded_when_the_app_is_made(write_service, make_settings):
    service, _ = write_service({"orders": ORDERS, "reports": REPORTS}, automations=["orders", "reports"])
    assert service.automations == {}  # nothing imported them yet

    service.create_app(settings_of(service, make_settings))

    assert sorted(service.automations) == ["shop.daily-report", "shop.orders"]


def test_a_module_that_declares_automations_without_being_listed_stops_the_start(write_service, make_settings):
    service, root = write_service({"orders": ORDERS, "reports": REPORTS}, automations=["orders"])

    with pytest.raises(DeclarationError) as stopped:
        service.create_app(settings_of(service, make_settings))

    message = str(stopped.value)
    assert str(root / "reports.py") in message
    assert f"add '{root.name}.reports' to Service(automations=[...]) in {root.name}.service" in message
    assert "orders.py" not in message


def test_automations_declared_next_to_the_service_need_no_listing(write_service, make_settings):
    builds_and_declares = "from zaps import Service\n\nfrom {package}.settings import Settings\n\n" + (
        "service = Service(Settings)\n" + ORDERS.replace("from {package}.service import service\n", "")
    )
    service, _ = write_service({"service": builds_and_declares}, automations=[])

    service.create_app(settings_of(service, make_settings))

    assert list(service.automations) == ["shop.orders"]


def test_a_listed_module_that_does_not_exist_stops_the_start(write_service, make_settings):
    service, root = write_service({"orders": ORDERS}, automations=["orders", "ordres"])

    with pytest.raises(DeclarationError, match=rf"lists '{root.name}\.ordres', which does not exist"):
        service.create_app(settings_of(service, make_settings))


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        (
            'webhook(secret_setting="order_secret")',
            "automation shop.typo: secret_setting='order_secret' is not a setting of Settings; "
            "did you mean 'orders_secret'?",
        ),
        ('webhook(token_setting="nothing_like_it")', "token_setting='nothing_like_it' is not a setting of Settings"),
        ('schedule(cron_setting="report_crn")', "cron_setting='report_crn' is not a setting of Settings"),
    ],
)
def test_a_trigger_naming_a_missing_setting_stops_the_start(write_service, make_settings, declaration, expected):
    typo = f"""
    from zaps import Run, schedule, webhook

    from {{package}}.service import service


    @service.automation({declaration})
    async def typo(run: Run) -> None:
        pass
    """
    service, _ = write_service({"typo": typo}, automations=["typo"])

    with pytest.raises(DeclarationError) as stopped:
        service.create_app(settings_of(service, make_settings))

    assert expected in str(stopped.value)


def test_a_poller_naming_a_missing_interval_setting_stops_the_start(write_service, make_settings):
    feed = """
    from zaps import PollContext, PollResult

    from {package}.service import service
    from {package}.settings import Settings


    @service.poller("feed", every_setting="feed_every")
    async def feed(poll: PollContext[Settings]) -> PollResult:
        return PollResult()
    """
    service, _ = write_service({"feed": feed}, automations=["feed"])

    with pytest.raises(DeclarationError, match=r"poller shop\.feed: every_setting='feed_every' .* 'feed_every_s'"):
        service.create_app(settings_of(service, make_settings))


CONNECTOR = """
from typing import ClassVar, Self

from pydantic import SecretStr

from zaps import Run, webhook
from zaps.connectors import ConnectorSettings, load_settings

from {package}.service import service


class CrmSettings(ConnectorSettings):
    crm_token: SecretStr
    crm_region: str = "eu"


class Crm:
    name: ClassVar[str] = "Shop CRM"
    settings_class: ClassVar[type[ConnectorSettings]] = CrmSettings

    @classmethod
    def from_environment(cls) -> Self:
        load_settings(CrmSettings, cls.name)
        return cls()

    async def aclose(self) -> None:
        pass


@service.automation(webhook(secret_setting="orders_secret"), uses=[Crm])
async def to_crm(run: Run) -> None:
    pass
"""


def test_a_connector_whose_credentials_are_missing_stops_the_start_naming_the_variable(
    write_service, make_settings, monkeypatch
):
    monkeypatch.delenv("CRM_TOKEN", raising=False)
    service, _ = write_service({"crm": CONNECTOR}, automations=["crm"])

    with pytest.raises(DeclarationError) as stopped:
        service.create_app(settings_of(service, make_settings))

    assert "automation shop.to-crm uses Shop CRM: CRM_TOKEN is not set" in str(stopped.value)


def test_a_connectors_invalid_value_is_named_but_never_quoted(write_service, make_settings, monkeypatch):
    monkeypatch.setenv("CRM_TOKEN", "tok-secret-4c1d")
    monkeypatch.setenv("CRM_REGION", "x" * 3)
    service, _ = write_service(
        {"crm": CONNECTOR.replace('crm_region: str = "eu"', "crm_region: int = 1")}, automations=["crm"]
    )

    with pytest.raises(DeclarationError) as stopped:
        service.create_app(settings_of(service, make_settings))

    message = str(stopped.value)
    assert "CRM_REGION is invalid" in message
    assert "xxx" not in message and "tok-secret" not in message


def test_a_connector_whose_credentials_are_set_lets_the_service_start(write_service, make_settings, monkeypatch):
    monkeypatch.setenv("CRM_TOKEN", "tok-secret-4c1d")
    service, _ = write_service({"crm": CONNECTOR}, automations=["crm"])

    service.create_app(settings_of(service, make_settings))

    assert service.automations["shop.to-crm"].uses[0].name == "Shop CRM"
