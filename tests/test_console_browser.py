"""Headless Chromium walks the console (``/``) from its login form, as the attacks and the jobs it
must handle: an officer's golden-time flow (register -> video request -> five cameras -> a live
frame on the wall), refusals that must show their reason (unregistered address, a role without
the right) and be audited, and the planner's and auditor's desks. Every request that leaves
127.0.0.1 is aborted and counted as a failure; page script errors fail the test too."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.browser

#: A Yuseong traffic accident of the bundled sample (the README's demo incident).
DEMO_LAT, DEMO_LON = 36.332281, 127.34798556
PASSWORD = "console-test-password"


@pytest.fixture(scope="module")
def console_world(engine: Any, sample_loaded: Any) -> Iterator[dict[str, Any]]:
    """Committed users of each role (one officer registered for another network only) and live
    sources on the five cameras nearest the demo accident; sources removed afterwards."""
    from geo.access.users import create_user
    from geo.db import session_scope
    from geo.incidents import create_incident
    from geo.nearest import nearest_cameras
    from geo.video.sources import demo_stream_url

    tag = uuid.uuid4().hex[:6]
    names = {
        "officer": ("police", "Daejeon Yuseong Police", ["127.0.0.1/32", "::1/128"]),
        "faraway": ("police", "Daejeon Yuseong Police", ["10.77.0.0/16"]),
        "planner": ("planner", "Daejeon Metropolitan City", ["127.0.0.1/32"]),
        "auditor": ("auditor", "Daejeon Metropolitan City", ["127.0.0.1/32"]),
        "investigator": ("investigator", "Daejeon Metropolitan Police Agency", ["127.0.0.1/32"]),
        "operator": ("operator", "Daejeon Metropolitan City", ["127.0.0.1/32", "::1/128"]),
    }
    users: dict[str, str] = {}
    with session_scope() as s:
        cams = [c["id"] for c in nearest_cameras(s, lat=DEMO_LAT, lon=DEMO_LON, k=5)]
        old = dict(
            s.execute(
                text("select id, stream_url from cameras where id = any(:ids)"), {"ids": cams}
            ).all()
        )
        s.execute(
            text("update cameras set stream_url = :u where id = any(:ids)"),
            {"u": demo_stream_url(), "ids": cams},
        )
        for key, (role, agency, cidrs) in names.items():
            name = f"console-{key}-{tag}"
            made = create_user(
                s, username=name, password=PASSWORD, role=role, agency=agency, cidrs=cidrs
            )
            users[key] = name
            if key == "officer":
                officer_agency = made.agency_id
        case = f"2026-CON-{tag}"
        incident = create_incident(  # an incident of the officers' agency
            s,
            kind="police",
            lat=DEMO_LAT,
            lon=DEMO_LON,
            case_number=case,
            priority=2,
            agency_id=officer_agency,
        )
    try:
        yield {
            "users": users,
            "cameras": cams,
            "tag": tag,
            "case": case,
            "incident_id": int(incident["id"]),
        }
    finally:
        with session_scope() as s:
            s.execute(text("delete from camera_masks where camera_id = any(:ids)"), {"ids": cams})
            s.execute(text("delete from motion_events where camera_id = any(:ids)"), {"ids": cams})
            s.execute(
                text("delete from recorder_status where camera_id = any(:ids)"), {"ids": cams}
            )
            for cid, url in old.items():
                s.execute(
                    text("update cameras set stream_url = :u where id = :c"), {"u": url, "c": cid}
                )


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/")
    page.fill("#login-username", username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    # a function, not a string: the console's CSP forbids eval, and Playwright's string
    # predicates are evaluated with it
    page.wait_for_function(
        "() => (window.__gt && window.__gt.ready === true)"
        " || !document.querySelector('#message').hidden",
        timeout=30_000,
    )
    assert page.evaluate("() => window.__gt.ready === true"), page.inner_text("#message")


def _message(page: Any) -> str:
    page.wait_for_selector("#message:not([hidden])", timeout=15_000)
    return str(page.inner_text("#message"))


def _audit_rows(username: str, action: str) -> list[dict[str, Any]]:
    from geo.db import session_scope

    with session_scope() as s:
        return [
            dict(r)
            for r in s.execute(
                text("select * from audit_log where username = :u and action = :a order by id"),
                {"u": username, "a": action},
            ).mappings()
        ]


def _register(page: Any, case: str) -> None:
    """Register an incident at the demo accident: first by clicking the map (fills the position),
    then typing the exact coordinates."""
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.querySelector('#incident-form [name=lat]').value !== ''")
    page.fill("#incident-form [name=case_number]", case)
    page.select_option("#incident-form [name=kind]", "police")
    page.select_option("#incident-form [name=priority]", "1")
    page.fill("#incident-form [name=lat]", str(DEMO_LAT))
    page.fill("#incident-form [name=lon]", str(DEMO_LON))
    page.click("#incident-form button[type=submit]")
    page.wait_for_selector(f"#incident-list li:has-text('{case}') button.video-request")


def test_officer_golden_time_flow(
    live_server: str, browser_page: Any, console_world: dict[str, Any]
) -> None:
    page = browser_page.page
    officer = console_world["users"]["officer"]
    _login(page, live_server, officer)
    assert officer in page.inner_text("#who") and "police" in page.inner_text("#who")
    assert page.evaluate("() => window.__gt.cameras") > 1000  # the whole registry is on the map
    case = f"2026-YS-{console_world['tag']}"
    _register(page, case)
    page.click(f"#incident-list li:has-text('{case}') button.video-request")
    page.wait_for_selector("#chosen-list li", timeout=20_000)
    listed = page.eval_on_selector_all(
        "#chosen-list li", "els => els.map(e => Number(e.dataset.cameraId))"
    )
    assert listed == console_world["cameras"]  # the 5 best cameras, in rank order
    assert all("m" in x for x in page.locator("#chosen-list li").all_inner_texts())
    # a live frame drawn in the video wall (the <img> holds a decoded JPEG)
    page.wait_for_selector(".wall-tile[data-live=drawn]", timeout=30_000)
    size = page.eval_on_selector(
        ".wall-tile[data-live=drawn] img", "img => [img.naturalWidth, img.naturalHeight]"
    )
    assert size == [480, 360]
    assert page.locator(".wall-tile").count() == 5
    assert "20" in page.inner_text("[data-testid=share-expiry]")  # the expiry's date is shown
    assert page.locator("[data-testid=wall-slider]").count() == 1
    # the views were audited as the officer's, and no token is in the page's HTML or any URL
    assert _audit_rows(officer, "video_request")
    assert _audit_rows(officer, "view")
    html = page.content()
    session_cookie = [c["value"] for c in page.context.cookies() if c["name"] == "gt_session"]
    assert all(v not in html for v in session_cookie)  # the session token never in the page
    assert "access_token=" not in html  # media links carry their own short-lived right
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors


def test_refusals_show_their_reason_and_are_audited(
    live_server: str, browser_page: Any, console_world: dict[str, Any]
) -> None:
    page = browser_page.page
    # an officer whose registered network is not this address: refused at the door, with why
    far = console_world["users"]["faraway"]
    page.goto(f"{live_server}/")
    page.fill("#login-username", far)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    msg = _message(page)
    assert "127.0.0.1" in msg and "not registered" in msg, msg
    assert page.is_visible("#login-form") and not page.is_visible("#app")
    assert _audit_rows(far, "login_failed") or _audit_rows(far, "denied")
    # a planner may read incidents but not ask for video
    case = console_world["case"]
    planner = console_world["users"]["planner"]
    _login(page, live_server, planner)
    page.click("#tabs button[data-tab=responder]")
    page.click(f"#incident-list li:has-text('{case}') button.video-request")
    msg = _message(page)
    assert "planner" in msg or "role" in msg, msg
    assert page.locator(".wall-tile").count() == 0
    denied = _audit_rows(planner, "denied")
    assert denied and denied[-1]["case_number"] == case
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors


def test_planner_and_auditor_desks(
    live_server: str, browser_page: Any, console_world: dict[str, Any]
) -> None:
    page = browser_page.page
    _login(page, live_server, console_world["users"]["planner"])
    assert page.locator("#tabs button[data-tab=planner].active").count() == 1
    page.fill("#siting-form [name=k]", "3")
    page.click("#siting-form button[type=submit]")
    page.wait_for_selector("[data-testid=sites] li", timeout=60_000)
    assert page.locator("[data-testid=sites] li").count() == 3
    assert "%" in page.inner_text("#siting-result")
    with page.expect_navigation():
        page.click("#logout")  # the page reloads: nothing of the session stays in memory
    auditor = console_world["users"]["auditor"]
    _login(page, live_server, auditor)
    assert page.locator("#tabs button[data-tab=auditor].active").count() == 1
    page.fill("#audit-form [name=user]", auditor)
    page.click("#audit-form button[type=submit]")
    page.wait_for_selector("#audit-table tbody tr[data-action=login]", timeout=15_000)
    assert auditor in page.inner_text("#audit-table tbody")
    page.click("#audit-verify")
    page.wait_for_selector("#audit-verify-result.ok, #audit-verify-result.bad", timeout=30_000)
    assert "ok" in (page.get_attribute("#audit-verify-result", "class") or ""), page.inner_text(
        "#audit-verify-result"
    )
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors


def _pick_camera(page: Any, camera_id: int) -> None:
    """Find a camera in the search box (by its name, else its external id) and click it, as a
    user clicks its point on the map."""
    from geo.db import session_scope

    with session_scope() as s:
        text_ = s.execute(
            text("select coalesce(name, external_id) from cameras where id = :c"), {"c": camera_id}
        ).scalar_one()
    page.fill("#search-q", text_)
    page.click("#search button[type=submit]")
    page.click(f"#search-results li[data-camera-id='{camera_id}']")
    page.wait_for_selector(f"#sighting-list li[data-camera-id='{camera_id}']")


def _traceable_pair(cameras: list[int]) -> tuple[int, int, float] | None:
    """Two cameras the road engine can trace between on foot with a camera between them, and the
    walk's fastest time (s): first among the demo accident's cameras (Daejeon roads), else two
    Helsinki sample cameras."""
    from geo import routing
    from geo.db import session_scope
    from geo.errors import GoldentimeError

    t0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    with session_scope() as s:
        helsinki = list(
            s.execute(
                text(
                    "select id from cameras where source = 'osm' "
                    "and external_id in ('node/311046853', 'node/316410244') order by external_id"
                )
            ).scalars()
        )
        pairs = [(a, b) for a in cameras for b in cameras if a != b] + [tuple(helsinki)]
        for a, b in pairs:  # the first pair with a camera between them on the way
            try:
                res = routing.track(
                    s, sightings=[(a, t0), (b, t0 + dt.timedelta(hours=1))], mode="walk"
                )
            except (GoldentimeError, ValueError):
                continue
            if res["hops"][0]["cameras_between"]:
                return a, b, float(res["hops"][0]["travel_time_fastest_s"])
    return None


def test_investigator_traces_sightings(
    live_server: str, browser_page: Any, console_world: dict[str, Any]
) -> None:
    pair = _traceable_pair(console_world["cameras"])
    if pair is None:
        pytest.skip("no road network under the sample cameras")
    first, second, fastest_s = pair
    minutes = max(2, int(fastest_s * 2 / 60) + 1)  # twice the fastest walk: feasible
    page = browser_page.page
    _login(page, live_server, console_world["users"]["investigator"])
    assert page.locator("#tabs button[data-tab=investigator].active").count() == 1
    _pick_camera(page, first)
    _pick_camera(page, second)
    times = page.locator("#sighting-list input[type=datetime-local]")
    times.nth(0).fill("2026-11-30T12:00:00")
    later = dt.datetime(2026, 11, 30, 12, 0) + dt.timedelta(minutes=minutes)
    times.nth(1).fill(later.strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("#track-form [name=case_number]", f"2026-INV-{console_world['tag']}")
    page.fill("#track-form [name=reason]", "robbery suspect seen twice")
    page.click("#track-form button[type=submit]")
    # the first trace may build the in-memory road graph: allow for it
    page.wait_for_function(
        "() => document.querySelector('[data-testid=track-verdict]')"
        " || !document.querySelector('#message').hidden",
        timeout=120_000,
    )
    verdict = page.query_selector("[data-testid=track-verdict]")
    assert verdict is not None, page.inner_text("#message")
    assert "ok" in (verdict.get_attribute("class") or ""), verdict.inner_text()
    assert page.locator("#track-result .why[data-camera-id]").count() >= 1
    # an impossible pace: the same hop in one second
    times.nth(1).fill("2026-11-30T12:00:01")
    page.click("#track-form button[type=submit]")
    page.wait_for_selector("[data-testid=track-verdict].bad", timeout=30_000)
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors


def _logout(page: Any) -> None:
    with page.expect_navigation():
        page.click("#logout")  # the page reloads: nothing of the session stays in memory


def _share_rows(case: str) -> list[dict[str, Any]]:
    from geo.db import session_scope

    with session_scope() as s:
        return [
            dict(r)
            for r in s.execute(
                text(
                    "select s.id, s.approval, s.kind, u.username as to_user from shares s "
                    "left join users u on u.id = s.granted_to_user_id "
                    "where s.case_number = :c order by s.id"
                ),
                {"c": case},
            ).mappings()
        ]


def test_operator_approves_and_refuses_requests_beyond_policy(
    live_server: str, browser_page: Any, console_world: dict[str, Any]
) -> None:
    """An officer asks for 5 h of recordings before the incident (policy: 2 h): the request waits,
    opening nothing; the operator approves one with a reason (the officer's share opens and plays)
    and refuses another, a decision without a reason being refused by the console first."""
    page = browser_page.page
    officer = console_world["users"]["officer"]
    operator = console_world["users"]["operator"]
    case = console_world["case"]
    _login(page, live_server, officer)
    page.click("#request-options summary")
    page.fill("#request-form [name=hours_before]", "5")
    page.fill("#request-form [name=reason]", "suspect seen near the scene this morning")
    before = {r["id"] for r in _share_rows(case)}
    for _ in range(2):
        page.click(f"#incident-list li:has-text('{case}') button.video-request")
        msg = _message(page)
        assert "approval" in msg and "before" in msg, msg  # beyond policy, with why
        page.evaluate("() => { document.querySelector('#message').hidden = true; }")
    assert page.locator(".wall-tile").count() == 0  # nothing opened
    new = [r for r in _share_rows(case) if r["id"] not in before]
    assert [r["approval"] for r in new] == ["pending", "pending"], new
    yes, no = new[0]["id"], new[1]["id"]
    page.wait_for_selector(f"#share-list li[data-share-id='{yes}'][data-status=awaiting_approval]")
    assert page.locator(f"#share-list li[data-share-id='{yes}'] button.open-share").count() == 0
    _logout(page)

    _login(page, live_server, operator)
    assert page.locator("#tabs button[data-tab=operator].active").count() == 1
    row = f"#pending-list li[data-share-id='{yes}']"
    page.wait_for_selector(row)
    assert "before" in page.inner_text(row)  # the policy's reason is shown to the approver
    page.click(f"{row} button.approve")  # no reason: the console asks for one, nothing is sent
    assert "reason" in _message(page).lower()
    assert _share_rows(case)[-2]["approval"] == "pending"
    page.fill(f"{row} input.decision-reason", "armed robbery: the morning matters")
    page.click(f"{row} button.approve")
    page.wait_for_selector(row, state="detached")
    assert f"#{yes}" in _message(page)
    no_row = f"#pending-list li[data-share-id='{no}']"
    page.fill(f"{no_row} input.decision-reason", "the 2 h window is enough here")
    page.click(f"{no_row} button.refuse")
    page.wait_for_selector(no_row, state="detached")
    decided = {r["id"]: r["approval"] for r in _share_rows(case)}
    assert decided[yes] == "approved" and decided[no] == "refused"
    assert _audit_rows(operator, "request_approve") and _audit_rows(operator, "request_refuse")
    _logout(page)

    # the officer's approved share is active and plays; the refused one never opens
    _login(page, live_server, officer)
    page.wait_for_selector(f"#share-list li[data-share-id='{yes}'][data-status=active]")
    page.wait_for_selector(f"#share-list li[data-share-id='{no}'][data-status=refused]")
    assert page.locator(f"#share-list li[data-share-id='{no}'] button.open-share").count() == 0
    page.click(f"#share-list li[data-share-id='{yes}'] button.open-share")
    page.wait_for_selector(".wall-tile[data-live=drawn]", timeout=30_000)
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors


def test_operator_alerts_push_status_and_masks(
    live_server: str, browser_page: Any, console_world: dict[str, Any]
) -> None:
    """The operator's desk: a motion alert near the open incident ranked with why and opened
    live; the incident's cameras pushed to an officer; a recorder in trouble in the camera
    status; a privacy mask drawn by clicking on a snapshot, saved and audited."""
    from geo.db import session_scope

    cams = console_world["cameras"]
    officer = console_world["users"]["officer"]
    operator = console_world["users"]["operator"]
    with session_scope() as s:
        s.execute(
            text(
                "insert into motion_events (camera_id, at, until_at, box_x, box_y, box_w, box_h,"
                " area_frac, score, frames) values (:c, now() - interval '2 minutes',"
                " now() - interval '100 seconds', 10, 20, 120, 90, 0.08, 0.9, 40)"
            ),
            {"c": cams[0]},
        )
        s.execute(
            text(
                "insert into recorder_status (camera_id, state, attempts, last_error)"
                " values (:c, 'retrying', 3, 'connection refused by the test source')"
            ),
            {"c": cams[1]},
        )
    page = browser_page.page
    _login(page, live_server, operator)
    assert page.locator("#tabs button[data-tab=operator].active").count() == 1
    alert = f"#alert-list li[data-camera-id='{cams[0]}']"
    page.wait_for_selector(alert)
    assert "open incident" in page.inner_text(alert)  # ranked near the open incident, with why
    page.click(f"{alert} button.alert-live")
    page.wait_for_selector(".wall-tile[data-live=drawn]", timeout=30_000)

    # push the incident's cameras to an officer
    page.fill("#push-form [name=incident_id]", str(console_world["incident_id"]))
    page.fill("#push-form [name=to_user]", officer)
    page.fill("#push-form [name=reason]", "patrol car 12 heading to the scene")
    page.click("#push-form button[type=submit]")
    page.wait_for_function(
        "() => !document.querySelector('#message').hidden"
        " && document.querySelector('#message').textContent.includes('→')"
    )
    assert officer in page.inner_text("#message")
    pushed = [r for r in _share_rows(console_world["case"]) if r["kind"] == "push"]
    assert pushed and pushed[-1]["to_user"] == officer

    # camera status: the recorder in trouble, with its error
    status_row = f"#status-table tr[data-camera-id='{cams[1]}'][data-state=retrying]"
    page.wait_for_selector(status_row)
    assert "connection refused" in page.inner_text(status_row)

    # a privacy mask drawn on a camera's snapshot
    page.fill("#mask-form [name=camera_id]", str(cams[2]))
    page.click("#mask-form button[type=submit]")
    page.wait_for_function(
        "() => { const i = document.querySelector('#mask-img');"
        " return !document.querySelector('#mask-editor').hidden && i.complete && i.naturalWidth > 0; }",
        timeout=30_000,
    )
    svg = page.locator("#mask-svg")
    svg.scroll_into_view_if_needed()
    box = svg.bounding_box()
    for fx, fy in [(0.1, 0.1), (0.4, 0.1), (0.4, 0.5), (0.1, 0.5)]:
        svg.click(position={"x": box["width"] * fx, "y": box["height"] * fy})
    assert "4" in page.inner_text("#mask-points")
    page.fill("#mask-label", "apartment window")
    page.click("#mask-save")
    page.wait_for_selector("#mask-list li")
    assert "saved" in _message(page).lower()
    saved = page.request.get(f"{live_server}/api/cameras/{cams[2]}/masks").json()["masks"]
    assert len(saved) == 1 and saved[0]["label"] == "apartment window"
    xs = [p[0] for p in saved[0]["points"]]
    ys = [p[1] for p in saved[0]["points"]]
    assert len(xs) == 4 and max(xs) <= 480 * 0.45 and max(ys) <= 360 * 0.55  # image pixels
    assert page.locator("#mask-svg polygon.mask-saved").count() == 1  # shown over the snapshot
    edits = _audit_rows(operator, "masks_edit")
    assert edits and cams[2] in edits[-1]["camera_ids"]
    # the operator's desk in Korean
    page.click("#lang")
    desk = page.inner_text("section.panel[data-panel=operator]")
    assert "카메라 상태" in desk and "개인정보 마스크" in desk and "승인 대기 요청" in desk
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors


def test_investigator_reachable_area_and_planner_gaps(
    live_server: str, browser_page: Any, console_world: dict[str, Any]
) -> None:
    """The investigator's reachable area from an incident for N minutes (a reason is demanded:
    without one the refusal names the field), and the planner's gap grid on the map."""
    page = browser_page.page
    investigator = console_world["users"]["investigator"]
    _login(page, live_server, investigator)
    page.click("#tabs button[data-tab=investigator]")
    page.select_option("#reach-form [name=incident]", str(console_world["incident_id"]))
    page.fill("#reach-form [name=minutes]", "3")
    page.fill("#reach-form [name=case_number]", console_world["case"])
    page.click("#reach-form button[type=submit]")  # no reason
    assert "reason" in _message(page), page.inner_text("#message")
    page.fill("#reach-form [name=reason]", "where could the suspect be by now")
    page.evaluate("() => { document.querySelector('#message').hidden = true; }")
    page.click("#reach-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=reach-summary]')"
        " || !document.querySelector('#message').hidden",
        timeout=120_000,
    )
    summary = page.query_selector("[data-testid=reach-summary]")
    assert summary is not None, page.inner_text("#message")
    assert "3" in summary.inner_text()
    assert _audit_rows(investigator, "trace") or _audit_rows(investigator, "reachable")
    _logout(page)

    _login(page, live_server, console_world["users"]["planner"])
    page.evaluate(f"() => window.__gt.jump({DEMO_LON}, {DEMO_LAT}, 13)")
    page.fill("#gaps-form [name=cell_size_m]", "300")
    page.click("#gaps-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=gaps-summary]')"
        " || !document.querySelector('#message').hidden",
        timeout=60_000,
    )
    summary = page.query_selector("[data-testid=gaps-summary]")
    assert summary is not None, page.inner_text("#message")
    assert int(summary.inner_text().split()[0]) > 0  # cells drawn
    assert page.locator("[data-testid=gaps-worst] li").count() >= 1
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors
