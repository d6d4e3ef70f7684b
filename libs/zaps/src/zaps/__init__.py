"""Zaps: what every automation service needs (settings, database, queue, logging, health, automations).

The names a service author uses are all here: `Service`, `Run`, the triggers (`webhook`, `schedule`, poll results),
the provider signature schemes for inbound webhooks
(`Stripe`, `GitHub`, `Shopify`, `Slack`, `Hmac`) and their `Reply`, and the failure types that decide retries.
"""

from zaps.app import create_app
from zaps.engine.run import Event, Filtered, Run
from zaps.engine.schemes import GitHub, Hmac, Reply, Shopify, Slack, Stripe
from zaps.engine.triggers import NewEvent, PollContext, PollResult
from zaps.engine.triggers import Schedule as schedule
from zaps.engine.triggers import Webhook as webhook
from zaps.retry import PermanentError, Retry, RetryableError
from zaps.service import Service
from zaps.settings import ZapsSettings, load_settings

__all__ = [
    "Event",
    "Filtered",
    "GitHub",
    "Hmac",
    "NewEvent",
    "PermanentError",
    "PollContext",
    "PollResult",
    "Reply",
    "Retry",
    "RetryableError",
    "Run",
    "Service",
    "Shopify",
    "Slack",
    "Stripe",
    "ZapsSettings",
    "create_app",
    "load_settings",
    "schedule",
    "webhook",
]
