"""The interactive docs load only the project's own static files (drf-spectacular-sidecar)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/docs/", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}),
        ("/api/redoc/", {"redoc.standalone.js"}),
    ],
)
def test_docs_pages_use_local_assets_that_answer(client: Client, path: str, expected: set[str]) -> None:
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "http://" not in html and "https://" not in html, "no outside host, no CDN"
    assets = ASSET.findall(html)
    assert expected <= {a.rsplit("/", 1)[-1] for a in assets}
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert b"".join(served.streaming_content)


def test_swagger_ui_does_not_call_the_online_validator(client: Client) -> None:
    html = client.get("/api/docs/").content.decode()
    assert '"validatorUrl": null' in html


def test_the_admin_view_site_link_lands_on_the_docs(client: Client) -> None:
    from django.contrib import admin

    assert admin.site.site_url == "/api/docs/"
    assert client.get(admin.site.site_url).status_code == 200
