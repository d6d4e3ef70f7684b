"""A TCP proxy in front of the test database, to cut it and bring it back."""

from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest
from zaps.testing.proxy import TcpProxy


@asynccontextmanager
async def cut_database(database_url):
    parts = urlsplit(database_url)
    if not parts.hostname or parts.hostname.startswith("/"):
        pytest.skip("the test PostgreSQL listens on a unix socket only; the proxy needs TCP")
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    await proxy.start()
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    try:
        yield proxy, urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{proxy.port}"))
    finally:
        await proxy.stop()
