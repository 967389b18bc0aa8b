"""Headless Chromium: the live MJPEG renders (masked) and an archive clip plays (H.264)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.browser

MASK = [[20, 20], [180, 20], [180, 120], [20, 120]]


@pytest.fixture
def committed_video(engine: Any, sample_loaded: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A camera with the looping demo source, a 12 s archive, a mask, and an officer holding a
    share of it (committed: the live server sees only committed data); removed afterwards."""
    from geo.access.shares import camera_links, create_share
    from geo.access.tokens import create_media_token
    from geo.access.users import create_user
    from geo.db import session_scope
    from geo.settings import get_settings
    from geo.video import archive, privacy
    from geo.video.sources import demo_clip_path, demo_stream_url

    old_dir = get_settings().video_dir
    get_settings().video_dir = tmp_path / "video"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    t0 = now - dt.timedelta(minutes=5)
    tag = uuid.uuid4().hex[:8]
    with session_scope() as s:
        cam = int(
            s.execute(
                text("select max(id) from cameras where purpose = 'crime_prevention'")
            ).scalar_one()
        )
        s.execute(
            text("update cameras set stream_url = :u where id = :c"),
            {"u": demo_stream_url(), "c": cam},
        )
        archive.import_video(
            s, camera_id=cam, path=demo_clip_path(), start_at=t0, segment_s=4, max_frames=80
        )
        privacy.set_masks(s, camera_id=cam, masks=[{"points": MASK}])
        op = create_user(
            s,
            username=f"br-op-{tag}",
            password=f"pw-{tag}",
            role="operator",
            agency="Daejeon CCTV Centre",
            cidrs=["127.0.0.1/32"],
        )
        officer = create_user(
            s,
            username=f"br-officer-{tag}",
            password=f"pw-{tag}",
            role="police",
            agency="Daejeon Yuseong Police",
            cidrs=["127.0.0.1/32"],
        )
        share = create_share(
            s,
            kind="push",
            granted_by=op,
            to_user=officer,
            camera_ids=[cam],
            reason="browser test",
            past_start=now - dt.timedelta(hours=1),
            past_end=now,
        )
        s.flush()
        # what the API hands out: media links (one camera, one share, minutes), no bearer token
        live = camera_links(cam, user=officer, share=share)["live"]
        clip_token = create_media_token(officer, camera_id=cam, share_id=share.id, kind="clip")[0]
    try:
        yield {"cam": cam, "live": live, "clip_token": clip_token, "t0": t0}
    finally:
        get_settings().video_dir = old_dir
        with session_scope() as s:
            for t in ("video_segments", "camera_masks"):
                s.execute(text(f"delete from {t} where camera_id = :c"), {"c": cam})
            s.execute(text("update cameras set stream_url = null where id = :c"), {"c": cam})


def test_live_mjpeg_and_clip_in_chromium(
    live_server: str, browser_page: Any, committed_video: dict[str, Any]
) -> None:
    page = browser_page.page
    cam = committed_video["cam"]
    page.goto(f"{live_server}/static/vendor/awesome-rotate.css")  # same origin: canvas readable
    assert "?mt=" in committed_video["live"]
    live = committed_video["live"] + "&max_s=20"
    info = page.evaluate(
        """async (src) => {
            const img = document.createElement('img');
            img.src = src;
            document.body.appendChild(img);
            for (let i = 0; i < 150 && !(img.naturalWidth > 0); i++)
                await new Promise(r => setTimeout(r, 100));
            await new Promise(r => setTimeout(r, 500));
            const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const ctx = c.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const px = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
            const mean = (x, y, w, h) => {
                const d = ctx.getImageData(x, y, w, h).data; let s = 0;
                for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
                return s / (d.length / 4) / 3;
            };
            const r = {w: img.naturalWidth, h: img.naturalHeight, masked: mean(30, 30, 140, 80),
                       scene: mean(250, 200, 200, 150), inside: px(100, 70)};
            img.src = '';  // close the stream
            return r;
        }""",
        live,
    )
    assert info["w"] == 480 and info["h"] == 360, info
    assert info["masked"] < 10 and info["scene"] > 40, info
    start = committed_video["t0"] + dt.timedelta(seconds=2)
    end = start + dt.timedelta(seconds=5)
    q = f"start={start.isoformat().replace('+00:00', 'Z')}&end={end.isoformat().replace('+00:00', 'Z')}"
    clip = f"/api/cameras/{cam}/clip.mp4?{q}&mt={committed_video['clip_token']}"
    vid = page.evaluate(
        """async (src) => {
            const v = document.createElement('video');
            v.muted = true; v.src = src;
            document.body.appendChild(v);
            const ok = await new Promise(res => {
                v.onloadeddata = () => res(true);
                v.onerror = () => res('error ' + (v.error && v.error.code));
                setTimeout(() => res('timeout'), 15000);
            });
            return {ok, w: v.videoWidth, h: v.videoHeight, d: v.duration,
                    can: v.canPlayType('video/mp4; codecs="avc1.64001E"')};
        }""",
        clip,
    )
    assert vid["ok"] is True and vid["w"] == 480 and vid["h"] == 360, vid
    assert 4.5 <= vid["d"] <= 5.5, vid
    assert not browser_page.blocked and not browser_page.errors
