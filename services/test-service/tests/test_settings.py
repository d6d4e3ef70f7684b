"""test-service settings: the worked example forwards to this service's own sink, on whatever port it serves."""

import pytest
from test_service.settings import Settings


@pytest.mark.parametrize("port", [8000, 8001])
def test_big_orders_go_to_our_own_sink_on_the_port_in_use(port):
    settings = Settings(_env_file=None, port=port, orders_forward_url="")  # "" is what an unset variable gives

    assert settings.orders_forward_url == f"http://127.0.0.1:{port}/api/test/sink"


def test_a_forward_url_that_is_set_is_kept():
    settings = Settings(_env_file=None, port=8001, orders_forward_url="https://crm.example.com/orders")

    assert settings.orders_forward_url == "https://crm.example.com/orders"
