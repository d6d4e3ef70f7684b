"""create_app: docs behind the prefix, one JSON error shape, request ids, and the same routes with or without the
prefix (Traefik strips it in production; `make dev` and tests keep it)."""

import re

import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from zaps.errors import NotFound
from zaps.service import Service
from zaps.settings import ZapsSettings
from zaps.testing.apps import running


class DemoSettings(ZapsSettings):
    service_name: str = "demo"
    path_prefix: str = "/api/demo"


class Order(BaseModel):
    quantity: int


router = APIRouter()


@router.get("/orders/{order_id}")
async def get_order(order_id: int) -> dict[str, int]:
    raise NotFound(f"order {order_id} does not exist")


@router.post("/orders")
async def create_order(order: Order) -> dict[str, int]:
    return {"quantity": order.quantity}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("database password is hunter2")


def demo_service() -> Service:
    service = Service(DemoSettings)
    service.include_router(router)
    return service


async def test_docs_render_under_the_prefix_and_point_try_it_at_it(make_settings):
    app = demo_service().create_app(make_settings(DemoSettings, run_worker=False))
    async with running(app) as client:
        docs = await client.get("/api/demo/docs")
        spec = (await client.get("/api/demo/openapi.json")).json()
    assert docs.status_code == 200
    assert "/api/demo/openapi.json" in docs.text
    assert spec["servers"] == [{"url": "/api/demo"}]
    assert "/orders/{order_id}" in spec["paths"]


async def test_routes_answer_with_and_without_the_prefix(make_settings):
    app = demo_service().create_app(make_settings(DemoSettings, run_worker=False))
    async with running(app) as client:
        assert (await client.get("/api/demo/health")).status_code == 200
        assert (await client.get("/health")).status_code == 200


async def test_errors_share_one_json_shape(make_settings):
    app = demo_service().create_app(make_settings(DemoSettings, run_worker=False))
    async with running(app) as client:
        missing = await client.get("/api/demo/orders/7", headers={"X-Request-ID": "abc123"})
        invalid = await client.post("/api/demo/orders", json={"quantity": "many"})
        no_route = await client.get("/api/demo/nothing-here")
        crashed = await client.get("/api/demo/boom")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "not_found", "message": "order 7 does not exist", "request_id": "abc123"}
    }
    assert missing.headers["x-request-id"] == "abc123"
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"
    assert invalid.json()["error"]["details"][0]["loc"] == ["body", "quantity"]
    assert no_route.status_code == 404
    assert no_route.json()["error"]["code"] == "not_found"
    assert crashed.status_code == 500
    assert crashed.json()["error"]["code"] == "internal_error"
    assert "hunter2" not in crashed.text
    assert len(crashed.json()["error"]["request_id"]) == 32


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe not utf-8"])
async def test_malformed_json_body_is_a_422_not_a_500(make_settings, body):
    app = demo_service().create_app(make_settings(DemoSettings, run_worker=False))
    async with running(app) as client:
        response = await client.post("/api/demo/orders", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def urls_in(html: str) -> list[str]:
    """Every address a docs page makes the browser load: src/href attributes and the spec `url` in its script."""
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|\burl\s*:\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["docs", "redoc"])
async def test_docs_pages_load_only_from_the_service_itself(make_settings, page):
    app = demo_service().create_app(make_settings(DemoSettings, run_worker=False))
    async with running(app) as client:
        html = (await client.get(f"/api/demo/{page}")).text
        urls = [src or spec for src, spec in urls_in(html)]
        # As `make dev` serves them (prefix kept) and as Traefik passes them on in production (prefix stripped).
        kept = {url: await client.get(url) for url in urls}
        stripped = {url: await client.get(url.removeprefix("/api/demo")) for url in urls}

    assert any(url.endswith(".js") for url in urls)
    assert [url for url in urls if not url.startswith("/api/demo/")] == []  # no CDN, no other host
    for answers in (kept, stripped):
        assert {url: answer.status_code for url, answer in answers.items()} == dict.fromkeys(urls, 200)
        for url, answer in answers.items():
            expected = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}
            assert expected[url[url.rindex(".") :]] in answer.headers["content-type"]
