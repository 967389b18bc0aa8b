"""The token check's memo: rows reused only while LISTEN is up, dropped when users change."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.access.tokens import ActiveUserCache, create_token, token_claims_async
from geo.access.users import create_user
from geo.db import read_connection
from geo.errors import Unauthorized
from tests.conftest import run_async, until


def test_memo_is_dropped_when_a_user_is_disabled(fresh_engine: Engine, sample_loaded: Any) -> None:
    url = os.environ["GOLDENTIME_DATABASE_URL"]
    name = f"cache-{uuid.uuid4().hex[:8]}"
    with Session(fresh_engine) as s, s.begin():
        user = create_user(
            s, username=name, password="x" * 12, role="police", agency=None, cidrs=["127.0.0.1/32"]
        )
        token, _ = create_token(user)
        uid = user.id

    async def go() -> None:
        cache = ActiveUserCache(url, max_age_s=60)
        cache.start()
        try:
            async with read_connection(url) as reader:
                # before LISTEN is up nothing is memoised
                await token_claims_async(reader, token, cache=cache)
                await until(lambda: cache.listening)
                claims = await token_claims_async(reader, token, cache=cache)
                assert claims["sub"] == name and uid in cache.rows
                # a committed change to users: the notification drops the memo
                with fresh_engine.begin() as conn:
                    conn.execute(text("update users set disabled = true where id = :i"), {"i": uid})
                await until(lambda: uid not in cache.rows)
                with pytest.raises(Unauthorized, match="disabled"):
                    await token_claims_async(reader, token, cache=cache)
        finally:
            assert cache.task is not None
            cache.task.cancel()

    run_async(go())


def test_no_memo_without_listen() -> None:
    cache = ActiveUserCache("postgresql+psycopg://nobody@/none", max_age_s=60)
    cache.put(1, {"username": "a", "role": "police", "disabled": False}, cache.generation)
    assert cache.get(1) is None  # not listening: never trusted
    cache.listening = True
    g = cache.generation
    cache.invalidate()
    cache.put(1, {"username": "a", "role": "police", "disabled": False}, g)
    assert cache.get(1) is None  # read before a change: not stored
