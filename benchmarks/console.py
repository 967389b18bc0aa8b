"""Console: the golden time and the first map paint, measured in a real browser on this machine.

Prints, in one run, against a uvicorn server (one worker, in a thread) and Debian's headless
Chromium (software WebGL), every request off the machine blocked:

* **golden time**: from the click on the video-request button to the first live frame drawn in
  the video wall (``window.__gt.marks``: ``requestClick`` -> ``firstFrame``, the <img>'s first
  decoded JPEG), p50/p95 over ``--runs`` requests (target p50 <= 1.5 s); also the API answer time;
* **first map paint**: from the login form's submit to the map's first ``idle`` with the whole
  registry drawn (the view's clusters, grouped by the database), with the sample data and with
  100k and 1M cameras in the registry (synthetic points over Daejeon added to the bench DB;
  target <= 2 s at 100k); then whether the map still pans and zooms (median jump -> idle at 1M);
* **baseline**: the folium incident map of the same incident (``/api/incidents/{id}/map``, the
  way to see an incident's cameras before the console): time to its ``load`` event.

Uses its own database ``goldentime_bench_console`` on the embedded cluster (never the service's).
Run: ``.venv/bin/python benchmarks/console.py [--runs 20] [--sizes 100000,1000000]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = "goldentime_bench_console"
DEMO_LAT, DEMO_LON = 36.332281, 127.34798556
PASSWORD = "bench-console-password"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    for port in range(8150, 8200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8150-8199")


def _pct(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, max(0, round(q * (len(ys) - 1))))]


def setup_db() -> tuple[str, str, int]:
    """The bench DB (migrated, sample loaded), a police user, an open incident at the demo
    accident, and the looping demo clip on its five nearest cameras."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from geo import embedded
    from geo.schema import migrate

    url = make_url(embedded.start().url()).set(database=BENCH_DB).render_as_string(False)
    migrate(url)
    os.environ["GOLDENTIME_DATABASE_URL"] = url
    from geo.db import get_engine
    from geo.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()
    from geo.access.users import create_user
    from geo.db import session_scope
    from geo.incidents import create_incident
    from geo.load.sample import load_sample
    from geo.nearest import nearest_cameras
    from geo.video.sources import demo_stream_url

    load_sample(engine=create_engine(url), quiet=True)
    name = f"bench-officer-{uuid.uuid4().hex[:6]}"
    with session_scope() as s:
        s.execute(text("delete from cameras where source = 'bench'"))
        officer = create_user(
            s,
            username=name,
            password=PASSWORD,
            role="police",
            agency="Daejeon Yuseong Police",
            cidrs=["127.0.0.1/32"],
        )
        inc = create_incident(
            s,
            kind="police",
            lat=DEMO_LAT,
            lon=DEMO_LON,
            case_number=f"BENCH-{uuid.uuid4().hex[:6]}",
            priority=1,
            created_by=name,
            agency_id=officer.agency_id,
        )
        cams = [c["id"] for c in nearest_cameras(s, lat=DEMO_LAT, lon=DEMO_LON, k=5)]
        s.execute(
            text("update cameras set stream_url = :u where id = any(:ids)"),
            {"u": demo_stream_url(), "ids": cams},
        )
    return url, name, int(inc["id"])


def add_cameras(total: int) -> int:
    """Grow the registry to ``total`` cameras with synthetic points over Daejeon (source 'bench')."""
    from sqlalchemy import text

    from geo.db import session_scope

    with session_scope() as s:
        have = int(s.execute(text("select count(*) from cameras")).scalar_one())
        n = max(0, total - have)
        if n:
            s.execute(
                text(
                    """
                insert into cameras (source, external_id, purpose, geom)
                select 'bench', 'b' || (:have + g),
                       (array['crime_prevention','traffic','child_protection','other'])[1 + g % 4],
                       st_setsrid(st_makepoint(127.25 + random() * 0.25,
                                               36.20 + random() * 0.25), 4326)
                from generate_series(1, :n) g
                """
                ),
                {"n": n, "have": have},
            )
        return have + n


def serve() -> tuple[str, Any, threading.Thread]:
    import uvicorn

    from api.main import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, th


class Browser:
    def __init__(self, base: str) -> None:
        from playwright.sync_api import sync_playwright

        self.base = base
        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        self.blocked: list[str] = []

    def page(self) -> Any:
        ctx = self.browser.new_context(viewport={"width": 1440, "height": 900})
        page = ctx.new_page()

        def route(r: Any) -> None:
            host = urlsplit(r.request.url).hostname
            if r.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        return page

    def login(self, page: Any, username: str, timeout_ms: float = 600_000) -> float:
        """Log in from the form; seconds from submit to the map's first idle with all cameras."""
        page.goto(f"{self.base}/")
        page.fill("#login-username", username)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_function("() => window.__gt && window.__gt.painted", timeout=timeout_ms)
        m = page.evaluate("() => window.__gt.marks")
        return (m["mapIdle"] - m["loginSubmit"]) / 1000

    def close(self) -> None:
        self.browser.close()
        self.pw.stop()


def golden_time(b: Browser, username: str, incident_id: int, runs: int) -> dict[str, float]:
    page = b.page()
    b.login(page, username)
    btn = f"#incident-list li[data-incident-id='{incident_id}'] button.video-request"
    frames, answers = [], []
    for i in range(runs):
        page.evaluate("() => { window.__gt.marks.firstFrame = null; }")
        page.click(btn)
        page.wait_for_function(
            "() => window.__gt.marks.firstFrame"
            " || document.querySelector('#message').dataset.kind === 'error'",
            timeout=60_000,
        )
        m = page.evaluate("() => window.__gt.marks")
        if not m.get("firstFrame"):
            raise RuntimeError(f"run {i}: {page.inner_text('#message')}")
        frames.append((m["firstFrame"] - m["requestClick"]) / 1000)
        answers.append((m["requestAnswer"] - m["requestClick"]) / 1000)
        page.click("#wall .wall-head button")  # close the wall: its streams stop
    page.context.close()
    return {
        "p50": statistics.median(frames),
        "p95": _pct(frames, 0.95),
        "answer_p50": statistics.median(answers),
    }


def first_paint(b: Browser, username: str, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        page = b.page()
        times.append(b.login(page, username))
        page.context.close()
    return statistics.median(times)


def pan_zoom(b: Browser, username: str) -> float:
    """Median seconds of a jump (pan + zoom) until the map is idle again, over 5 jumps."""
    page = b.page()
    b.login(page, username)
    took = page.evaluate(
        """async () => {
            const out = [];
            for (const [x, y, z] of [[127.30, 36.30, 12], [127.40, 36.35, 14], [127.35, 36.33, 10],
                                     [127.33, 36.40, 13], [127.36, 36.36, 11]]) {
                const t0 = performance.now();
                await window.__gt.jump(x, y, z);
                out.push((performance.now() - t0) / 1000);
            }
            return out.sort((a, b) => a - b)[2];
        }"""
    )
    page.context.close()
    return float(took)


def folium_baseline(b: Browser, username: str, incident_id: int, repeat: int = 3) -> float:
    page = b.page()
    b.login(page, username)
    times = []
    for _ in range(repeat):
        page.goto(f"{b.base}/api/incidents/{incident_id}/map", wait_until="load")
        nav = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n.loadEventEnd - n.startTime; }"
        )
        times.append(nav / 1000)
    page.context.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--sizes", default="100000,1000000", help="registry sizes for the paint")
    args = ap.parse_args()
    _url, user, incident = setup_db()
    base, server, th = serve()
    b = Browser(base)
    try:
        gt = golden_time(b, user, incident, args.runs)
        fol = folium_baseline(b, user, incident)
        print(f"golden time, click -> first live frame ({args.runs} runs)")
        print(
            f"  console: p50 {gt['p50']:.2f} s, p95 {gt['p95']:.2f} s "
            f"(API answer p50 {gt['answer_p50']:.2f} s); target p50 <= 1.5 s"
        )
        print(f"  baseline folium incident map (cameras, no picture): load {fol:.2f} s")
        from sqlalchemy import text

        from geo.db import session_scope

        with session_scope() as s:
            n0 = int(s.execute(text("select count(*) from cameras")).scalar_one())
        print("first map paint, login submit -> map idle with the registry drawn (median of 3)")
        print(f"  sample ({n0:,} cameras): {first_paint(b, user):.2f} s")
        for size in [int(x) for x in args.sizes.split(",") if x]:
            n = add_cameras(size)
            reps = 1 if n >= 500_000 else 3
            print(f"  {n:,} cameras: {first_paint(b, user, reps):.2f} s", flush=True)
        print(f"  pan + zoom at that size: median {pan_zoom(b, user):.2f} s per jump to idle")
        if b.blocked:
            print(f"  requests off the machine (blocked): {len(b.blocked)}")
    finally:
        b.close()
        server.should_exit = True
        th.join(10)


if __name__ == "__main__":
    main()
