"""ringcentral-service: RingCentral calls, voicemails and SMS, polled and acted on (served under /api/ringcentral).

Two pollers (`pollers`) turn the call log and the message store into events (`events`); the automations file
(RINGCENTRAL_AUTOMATIONS_FILE, see `rules`) adds the no-code automations (`automations`); automations written in
Python listen to the same pollers (`service.pollers["calls"].on("call.missed")`). The status page is `endpoints`,
and in demo mode the service serves its own simulator (`demo`).
"""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI
from zaps.actions import Actions
from zaps.service import Service
from zaps.settings import SettingsError

from ringcentral_service import automations, demo, pollers
from ringcentral_service.endpoints import router
from ringcentral_service.rules import RulesError, RulesFile, load_rules
from ringcentral_service.settings import Settings


def check_settings(rules: RulesFile, settings: Settings) -> None:
    """What the rules need from the settings is there: a setting they name exists and is set."""
    problems = []
    for rule in rules.automation:
        named = [
            ("url_setting", rule.webhook.url_setting if rule.webhook else None),
            ("webhook_url_setting", rule.slack.webhook_url_setting if rule.slack else None),
        ]
        for option, field in named:
            if field is None:
                continue
            if field not in Settings.model_fields:
                problems.append(f"automation {rule.name}: {option} names {field!r}, which is not a setting")
            elif getattr(settings, field) is None:
                problems.append(f"automation {rule.name}: {field.upper()} must be set")
        if rule.sms_reply and not settings.ringcentral_sms_from:
            problems.append(f"automation {rule.name} sends SMS replies: RINGCENTRAL_SMS_FROM must be set")
        if (
            rule.slack
            and not (rule.slack.webhook_url_setting or rule.slack.channel)
            and settings.slack_webhook_url is None
        ):
            problems.append(f"automation {rule.name} posts to Slack: SLACK_WEBHOOK_URL must be set")
        if rule.email and not (settings.smtp_host and settings.smtp_from):
            problems.append(f"automation {rule.name} sends email: SMTP_HOST and SMTP_FROM must be set")
    if problems:
        raise RulesError("\n".join(problems))


logger = logging.getLogger(__name__)


class RingCentralService(Service[Settings]):
    """A `Service` that reads the automations file when its app is made, so a mistake stops start-up."""

    def __init__(self) -> None:
        # Both modules declare on this service through functions called below (`pollers.register`) and in
        # `create_app` (`automations.install`); listed, so the start-up check knows they belong.
        super().__init__(
            Settings,
            title="Zaps ringcentral-service",
            automations=["ringcentral_service.pollers", "ringcentral_service.automations"],
        )
        self.rule_automations: list[str] = []

    def create_app(self, settings: Settings | None = None, *, actions: Actions | None = None) -> FastAPI:
        settings = settings or self.load_settings()
        try:
            rules = load_rules(settings.ringcentral_automations_file)
            check_settings(rules, settings)
        except RulesError as error:
            print(f"configuration error: {error}".replace("\n", "\nconfiguration error: "), file=sys.stderr)
            raise SettingsError(2) from None
        for name in self.rule_automations:  # a new app of the same service (tests, reloads) reads the file anew
            self.automations.pop(name, None)
        self.rule_automations = automations.install(self, rules)
        app = super().create_app(settings, actions=actions)  # logging is configured from here on
        if settings.ringcentral_demo and settings.ignored_in_demo:
            logger.warning(
                "RINGCENTRAL_DEMO is on: these settings are not used, the service talks only to its own simulator",
                extra={"ignored": settings.ignored_in_demo},
            )
        if settings.ringcentral_automations_file is not None:
            logger.info(
                "automations file loaded",
                extra={"file": str(settings.ringcentral_automations_file), "automations": self.rule_automations},
            )
        return app


service = RingCentralService()
pollers.register(service)
service.include_router(router)
service.include_router(demo.router)
