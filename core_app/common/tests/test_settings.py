from __future__ import annotations

import pytest

from core_app.settings import env_bool


@pytest.mark.parametrize(
    "raw,default,expected",
    [(None, True, True), ("", True, True), ("  ", False, False), ("1", False, True), ("off", True, False)],
)
def test_env_bool_treats_unset_and_empty_as_the_default(
    raw: str | None, default: bool, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if raw is None:
        monkeypatch.delenv("INNOTTER_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("INNOTTER_TEST_FLAG", raw)
    assert env_bool("INNOTTER_TEST_FLAG", default) is expected


def test_admin_static_files_are_served_without_collectstatic(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).strip()
