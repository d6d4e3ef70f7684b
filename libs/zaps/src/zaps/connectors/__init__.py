"""Connectors: the outside services a handler talks to beyond the built-in actions (Google Sheets, HubSpot, Teams,
a Slack app…). Each is one module with a settings class for its credentials, a client, and step functions that go
through the idempotency ledger like `run.webhook`. See docs/connectors.md."""

from zaps.connectors.base import Connector, ConnectorSettings, ConnectorSettingsError, connector, load_settings

__all__ = ["Connector", "ConnectorSettings", "ConnectorSettingsError", "connector", "load_settings"]
