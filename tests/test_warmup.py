"""Warm-ups at server start (api/warmup.py): the attack is a slow or broken warm-up holding the
server's startup (no answers for a minute at a national registry) or taking it down."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from api import warmup


@pytest.fixture
def warming(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Warm-ups on, not yet started in this process, with a step that blocks until released
    and one that fails."""
    from geo.settings import get_settings

    release = threading.Event()
    entered = threading.Event()

    def slow() -> None:
        entered.set()
        assert release.wait(30), "the test never released the warm-up"

    def broken() -> None:
        raise RuntimeError("no graph here")

    monkeypatch.setattr(get_settings(), "warmup", True)
    monkeypatch.setattr(warmup, "_thread", None)
    monkeypatch.setattr(warmup, "STEPS", {"slow": slow, "broken": broken})
    monkeypatch.setattr(warmup, "results", {})
    return {"release": release, "entered": entered}


def test_server_answers_while_warming_and_a_failed_warmup_is_not_fatal(
    warming: dict[str, Any], client: Any, make_user: Any, session: Any
) -> None:
    # the client fixture ran the app's lifespan: the warm-up thread is running, blocked
    thread = warmup._thread
    assert thread is not None and thread.is_alive()
    assert warming["entered"].wait(30)
    from geo.access.tokens import create_token

    token = create_token(make_user("warm-officer"))[0]
    r = client.get(
        "/ogc/collections/cameras/tiles/14/13977/6483",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code in (200, 204), r.text  # served while the warm-up still blocks
    assert thread.is_alive()
    warming["release"].set()
    thread.join(30)
    assert not thread.is_alive()
    assert warmup.results["slow"] == "ok"
    assert warmup.results["broken"] == "RuntimeError: no graph here"  # logged, not raised
    assert warmup.start_warmups() is None  # once per process


def test_warmups_off_start_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from geo.settings import get_settings

    monkeypatch.setattr(get_settings(), "warmup", False)
    monkeypatch.setattr(warmup, "_thread", None)
    assert warmup.start_warmups() is None and warmup._thread is None


def test_the_real_warmups_run(sample_loaded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The camera index of the (committed) sample registry and the pathfinding, cameras-along and
    road-distance JIT (a first route or nearest answer after start compiles nothing)."""
    monkeypatch.setattr(warmup, "results", {})
    assert warmup.run_warmups() == {
        "camera_index": "ok",
        "pathfinding": "ok",
        "along": "ok",
        "road_distances": "ok",
    }
