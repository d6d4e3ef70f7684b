"""Zaps: what every automation service needs (settings, database, queue, logging, health, automations)."""

from zaps.app import create_app
from zaps.service import JobContext, Service
from zaps.settings import ZapsSettings, load_settings

__all__ = ["JobContext", "Service", "ZapsSettings", "create_app", "load_settings"]
