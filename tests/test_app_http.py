"""The seller app over plain HTTP on loopback, no browser and no models: the upload cap."""

from __future__ import annotations

import httpx
import pytest

from listingsmith.pipeline import Pipeline
from listingsmith.service import ListingService
from tests.conftest import free_port

SMALL_LIMIT_MB = 0.01
"""A tiny cap, so the test sends kilobytes rather than the default 25 MB."""


@pytest.fixture
def server(monkeypatch):
    from listingsmith import ui

    monkeypatch.setenv("LISTINGSMITH_MAX_UPLOAD_MB", str(SMALL_LIMIT_MB))
    port = free_port()
    running = ui.launch(port, service=ListingService(Pipeline(tagger=object(), describer=object())),
                        warm_up=False, block=False)
    yield f"http://127.0.0.1:{port}"
    running.close()


def upload(server: str, name: str, size: int) -> httpx.Response:
    return httpx.post(f"{server}/gradio_api/upload", timeout=30,
                      files={"files": (name, b"\xff" * size, "image/jpeg")})


def test_upload_over_the_limit_is_refused_and_the_app_keeps_serving(server):
    cap = round(SMALL_LIMIT_MB * 2**20)
    # the page reads the cap from the config and refuses larger files before sending them
    assert httpx.get(f"{server}/config").json()["max_file_size"] == cap

    refused = upload(server, "huge.jpg", cap + 1)
    assert refused.status_code == 413
    assert refused.text == f"File size exceeded maximum allowed size of {cap} bytes."

    accepted = upload(server, "photo.jpg", cap)
    assert accepted.status_code == 200
    assert [path.rsplit("/", 1)[-1] for path in accepted.json()] == ["photo.jpg"]
    assert httpx.get(server).status_code == 200


def test_upload_cap_defaults_to_25_mb(monkeypatch):
    from listingsmith import ui

    monkeypatch.delenv("LISTINGSMITH_MAX_UPLOAD_MB", raising=False)
    port = free_port()
    running = ui.launch(port, service=ListingService(Pipeline(tagger=object(), describer=object())),
                        warm_up=False, block=False)
    try:
        assert running.max_file_size == 25 * 2**20
    finally:
        running.close()
