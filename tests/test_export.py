"""Evidence export, tried as an attacker and as a court would: a signed, watermarked ZIP that
verifies; a flipped byte anywhere fails; no export outside the share or by a non-recipient."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geo.video import archive, privacy
from geo.video import export as ev
from geo.video.sources import demo_clip_path
from tests.video_helpers import decode_frames

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
T = NOW - dt.timedelta(minutes=10)  # archive: 3 segments of 4 s from T
CASE = "2026-YS-0417"
MASK = [[300, 250], [470, 250], [470, 350], [300, 350]]  # bottom-right, away from the watermark


def iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """Video archive and state folder (evidence key) in a temporary directory."""
    from geo.settings import get_settings

    s = get_settings()
    old = s.video_dir, s.home
    s.video_dir, s.home = tmp_path / "video", tmp_path / "home"
    try:
        yield tmp_path
    finally:
        s.video_dir, s.home = old


@pytest.fixture
def world(session: Session, state: Path, make_user: Any, auth_client: Any) -> dict[str, Any]:
    """One camera with a 12 s archive and a mask; an officer holding a share of it (the past
    hour, case CASE, no face blur so the test is quick); another officer of the same agency."""
    from geo.access.shares import create_share

    cam = session.execute(
        text("select id from cameras where purpose = 'crime_prevention' order by id limit 1")
    ).scalar_one()
    archive.import_video(
        session, camera_id=cam, path=demo_clip_path(), start_at=T, segment_s=4, max_frames=120
    )
    privacy.set_masks(session, camera_id=cam, masks=[{"points": MASK, "label": "flat"}])
    op = make_user("ex-op", role="operator", agency="Daejeon CCTV Centre")
    officer = make_user("ex-officer")
    other = make_user("ex-other")  # same agency, but the share is to ex-officer only
    share = create_share(
        session,
        kind="push",
        granted_by=op,
        to_user=officer,
        camera_ids=[cam],
        reason="assault outside Yuseong station",
        case_number=CASE,
        past_start=NOW - dt.timedelta(hours=1),
        past_end=NOW,
        face_blur=False,
    )
    return {
        "cam": cam,
        "op": op,
        "officer": officer,
        "other": other,
        "share": share,
        "client": auth_client(officer),
        "auth_client": auth_client,
    }


def body(cam: int, start: dt.datetime, end: dt.datetime, **kw: Any) -> dict[str, Any]:
    return {"camera_id": cam, "start": iso(start), "end": iso(end), "reason": "court file", **kw}


def export_zip(world: dict[str, Any], tmp: Path, start_s: float = 3, end_s: float = 5) -> Path:
    r = world["client"].post(
        f"/api/shares/{world['share'].id}/exports",
        json=body(world["cam"], T + dt.timedelta(seconds=start_s), T + dt.timedelta(seconds=end_s)),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    p = tmp / "evidence.zip"
    p.write_bytes(r.content)
    return p


def audit_rows(session: Session, username: str) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in session.execute(
            text(
                "select id, action, camera_ids, share_id, case_number, detail, reason, client_ip "
                "from audit_log where username = :u order by id"
            ),
            {"u": username},
        ).mappings()
    ]


def rezip(src: Path, dst: Path, change: dict[str, bytes]) -> Path:
    """Copy ``src`` to ``dst`` replacing the named members' bytes (an attacker's edit)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            zo.writestr(info, change.get(info.filename, zi.read(info.filename)))
    return dst


def flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


def frames_of(mp4: bytes, tmp: Path) -> list[np.ndarray]:
    p = tmp / "clip_decode.mp4"
    p.write_bytes(mp4)
    return decode_frames(p)


def gray_corner(frame: np.ndarray, bw: int, bh: int) -> np.ndarray:
    return cv2.cvtColor(frame[:bh, :bw], cv2.COLOR_BGR2GRAY).astype(np.float32)


def corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x.ravel(), y.ravel())[0, 1])


# --- the ZIP verifies, and only untouched -------------------------------------------------------


def test_export_zip_verifies_with_the_service_key(
    session: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    p = export_zip(world, tmp_path)
    with zipfile.ZipFile(p) as z:
        names = sorted(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        mp4 = z.read(manifest["file"]["name"])
        zip_pem = z.read("public_key.pem")
        assert len(z.read("manifest.sig")) == 64  # raw Ed25519
    assert names == sorted(
        [manifest["file"]["name"], "manifest.json", "manifest.sig", "public_key.pem"]
    )
    import hashlib

    assert manifest["file"]["sha256"] == hashlib.sha256(mp4).hexdigest()
    assert manifest["file"]["bytes"] == len(mp4)
    assert manifest["file"]["frames"] == 20  # 2 s at 10 fps
    assert manifest["camera_id"] == world["cam"]
    assert manifest["share_id"] == world["share"].id and manifest["case_number"] == CASE
    assert manifest["user"]["username"] == "ex-officer"
    assert manifest["user"]["agency"] == "Daejeon Yuseong Police"
    assert manifest["client_ip"] == "127.0.0.1"
    assert manifest["window"] == {
        "start": ev._iso_ms(T + dt.timedelta(seconds=3)),
        "end": ev._iso_ms(T + dt.timedelta(seconds=5)),
    }
    assert manifest["service"]["version"] and manifest["exported_at"]
    exports = [a for a in audit_rows(session, "ex-officer") if a["action"] == "export"]
    assert [a["id"] for a in exports] == [manifest["audit_id"]]

    # the service's published key is the one in the ZIP, and it verifies
    r = world["client"].get("/api/evidence/public-key")
    assert r.status_code == 200 and r.content == zip_pem
    assert r.headers["x-key-sha256"] == manifest["signature"]["public_key_sha256"]
    rep = ev.verify_evidence(p, public_key=r.content)
    assert rep.ok, rep.problems
    assert ev.verify_evidence(p).ok  # with the key inside the ZIP

    # the command line says OK
    from cli.main import app

    pem = tmp_path / "service.pem"
    pem.write_bytes(r.content)
    out = CliRunner().invoke(app, ["export", "verify", str(p), "--public-key", str(pem)])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("OK:") and CASE in out.output


def test_flipped_byte_in_the_clip_fails_verify(world: dict[str, Any], tmp_path: Path) -> None:
    p = export_zip(world, tmp_path)
    with zipfile.ZipFile(p) as z:
        name = json.loads(z.read("manifest.json"))["file"]["name"]
        mp4 = z.read(name)
    bad = rezip(p, tmp_path / "bad_clip.zip", {name: flip(mp4, len(mp4) // 2)})
    rep = ev.verify_evidence(bad)
    assert not rep.ok
    assert any(name in x and "SHA-256" in x and "differs" in x for x in rep.problems), rep.problems
    assert not any("signature" in x for x in rep.problems)  # the manifest itself is intact

    from cli.main import app

    out = CliRunner().invoke(app, ["export", "verify", str(bad)])
    assert out.exit_code == 1
    assert "FAILED" in out.output and "SHA-256" in out.output


def test_flipped_byte_in_the_manifest_fails_verify(world: dict[str, Any], tmp_path: Path) -> None:
    p = export_zip(world, tmp_path)
    with zipfile.ZipFile(p) as z:
        data = z.read("manifest.json")
    # an attacker edits one character (here: inside the case number)
    at = data.index(CASE.encode()) + len(CASE) - 1
    bad = rezip(p, tmp_path / "bad_manifest.zip", {"manifest.json": flip(data, at)})
    rep = ev.verify_evidence(bad)
    assert not rep.ok
    assert any("signature does NOT match" in x for x in rep.problems), rep.problems

    from cli.main import app

    out = CliRunner().invoke(app, ["export", "verify", str(bad)])
    assert out.exit_code == 1 and "signature does NOT match" in out.output


def test_re_signed_with_an_attackers_key_fails_against_the_service_key(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """A forger rewrites the manifest, signs it with their own key and ships their public key:
    the ZIP is self-consistent, but the service's key refuses it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    p = export_zip(world, tmp_path)
    service_pem = world["client"].get("/api/evidence/public-key").content
    with zipfile.ZipFile(p) as z:
        m = json.loads(z.read("manifest.json"))
    m["case_number"] = "2026-FORGED"
    mine = Ed25519PrivateKey.generate()
    m["signature"]["public_key_sha256"] = ev.key_fingerprint(mine.public_key())
    data = ev.canonical_json(m)
    forged = rezip(
        p,
        tmp_path / "forged.zip",
        {
            "manifest.json": data,
            "manifest.sig": mine.sign(data),
            "public_key.pem": ev.public_key_pem(mine),
        },
    )
    assert ev.verify_evidence(forged).ok  # integrity only: the key in the ZIP is the forger's
    rep = ev.verify_evidence(forged, public_key=service_pem)
    assert not rep.ok and any("signature does NOT match" in x for x in rep.problems)


def test_extra_or_missing_members_fail_verify(world: dict[str, Any], tmp_path: Path) -> None:
    p = export_zip(world, tmp_path)
    extra = tmp_path / "extra.zip"
    extra.write_bytes(p.read_bytes())
    with zipfile.ZipFile(extra, "a") as z:
        z.writestr("note.txt", b"planted")
    rep = ev.verify_evidence(extra)
    assert not rep.ok and any("unexpected entries" in x and "note.txt" in x for x in rep.problems)

    gone = tmp_path / "gone.zip"
    with zipfile.ZipFile(p) as zi, zipfile.ZipFile(gone, "w") as zo:
        for info in zi.infolist():
            if info.filename != "manifest.sig":
                zo.writestr(info, zi.read(info.filename))
    rep = ev.verify_evidence(gone)
    assert not rep.ok and any("missing" in x and "manifest.sig" in x for x in rep.problems)

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert not ev.verify_evidence(junk).ok


# --- the watermark ------------------------------------------------------------------------------


def test_watermark_is_burned_into_every_frame_corner(
    session: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    p = export_zip(world, tmp_path, 3, 5)
    with zipfile.ZipFile(p) as z:
        m = json.loads(z.read("manifest.json"))
        marked = frames_of(z.read(m["file"]["name"]), tmp_path)
    cam = world["cam"]
    start, end = T + dt.timedelta(seconds=3), T + dt.timedelta(seconds=5)
    # the same window without the watermark (same masks, same encoder)
    plain_clip = archive.cut_clip(
        session,
        camera_id=cam,
        start=start,
        end=end,
        transform=privacy.egress_filter(session, camera_id=cam, share=world["share"]),
    )
    try:
        plain = frames_of(plain_clip.path.read_bytes(), tmp_path)
    finally:
        plain_clip.path.unlink(missing_ok=True)
    assert len(marked) == len(plain) == 20

    times = ev.frame_times(session, camera_id=cam, start=start, end=end)
    assert times[0] == start and times[-1] == start + dt.timedelta(seconds=1.9)
    for i in (0, 7, 19):
        lines = ev.watermark_lines(
            case_number=CASE,
            share_id=world["share"].id,
            username="ex-officer",
            camera_id=cam,
            at=times[i],
        )
        h, w = marked[i].shape[:2]
        bw, bh, _, _ = ev.watermark_box(w, h, lines)
        a = marked[i].astype(np.int16)
        b = plain[i].astype(np.int16)
        corner = np.abs(a[:bh, :bw] - b[:bh, :bw]).mean()
        rest = np.abs(a[bh + 8 :, :] - b[bh + 8 :, :]).mean()
        assert corner > 40, corner  # the box and its text replaced the scene
        assert rest < 6, rest  # nothing else changed beyond the codec's noise

        # the text is there: the decoded corner matches this frame's own text rendered on black,
        # and not the text of another user or another frame time
        got = gray_corner(marked[i], bw, bh)

        def template(ls: list[str], frame: np.ndarray = marked[i]) -> np.ndarray:
            return gray_corner(ev.burn_watermark(np.zeros_like(frame), ls), bw, bh)  # noqa: B023

        mine = template(lines)
        right = corr(got, mine)
        other_user = [lines[0], lines[1].replace("ex-officer", "mallory"), lines[2]]
        other_time = ev.watermark_lines(
            case_number=CASE,
            share_id=world["share"].id,
            username="ex-officer",
            camera_id=cam,
            at=times[i] + dt.timedelta(hours=3, minutes=47, seconds=21.3),
        )
        assert right > 0.95, right
        # Judged only where the two candidate texts differ (a whole-corner score depends on how
        # many characters the wall-clock times happen to share): there the frame must look like its
        # own text and not like the other one.
        for other in (other_user, other_time):
            theirs = template(other)
            differ = np.abs(mine - theirs) > 60
            assert differ.sum() > 50
            own, alien = corr(got[differ], mine[differ]), corr(got[differ], theirs[differ])
            print(f"frame {i}: {other[1]!r} {other[2]!r}: own {own:.3f} other {alien:.3f}")
            assert own > 0.8 and alien < own - 0.5, (own, alien)
        assert got[: bh // 2].max() > 200 and np.median(got) < 40  # white text on a dark box


def test_watermark_text_stays_ascii() -> None:
    lines = ev.watermark_lines(
        case_number="대전-2026-1", share_id=3, username="kim", camera_id=7, at=T
    )
    assert lines[0].startswith("CASE ??-2026-1") and all(c.isascii() for c in "".join(lines))


# --- refusals, all audited ----------------------------------------------------------------------


def test_export_outside_the_share_window_is_refused_and_audited(
    session: Session, world: dict[str, Any]
) -> None:
    old = NOW - dt.timedelta(hours=2)  # recorded? irrelevant: the share starts an hour ago
    r = world["client"].post(
        f"/api/shares/{world['share'].id}/exports",
        json=body(world["cam"], old, old + dt.timedelta(seconds=5)),
    )
    assert r.status_code == 403, r.text
    assert "outside share" in r.json()["detail"]["message"]
    denied = [a for a in audit_rows(session, "ex-officer") if a["action"] == "denied"]
    assert denied and denied[-1]["detail"]["access"] == "export"
    assert denied[-1]["detail"]["code"] == "window" and denied[-1]["share_id"] == world["share"].id
    assert not [a for a in audit_rows(session, "ex-officer") if a["action"] == "export"]


def test_export_by_a_non_recipient_is_refused_and_audited(
    session: Session, world: dict[str, Any]
) -> None:
    c = world["auth_client"](world["other"])
    r = c.post(
        f"/api/shares/{world['share'].id}/exports",
        json=body(world["cam"], T + dt.timedelta(seconds=3), T + dt.timedelta(seconds=5)),
    )
    assert r.status_code == 403, r.text
    rows = audit_rows(session, "ex-other")
    assert [a["action"] for a in rows] == ["denied"]
    assert rows[0]["detail"]["code"] == "recipient" and rows[0]["detail"]["access"] == "export"


def test_export_of_a_camera_outside_the_share_is_refused(
    session: Session, world: dict[str, Any]
) -> None:
    cam2 = session.execute(
        text("select id from cameras where id <> :c order by id limit 1"), {"c": world["cam"]}
    ).scalar_one()
    r = world["client"].post(
        f"/api/shares/{world['share'].id}/exports",
        json=body(cam2, T + dt.timedelta(seconds=3), T + dt.timedelta(seconds=5)),
    )
    assert (
        r.status_code == 403 and f"camera {cam2} is not in share" in r.json()["detail"]["message"]
    )


def test_export_from_an_unregistered_address_is_refused(
    session: Session, world: dict[str, Any]
) -> None:
    c = world["auth_client"](world["officer"], ip="203.0.113.9")
    r = c.post(
        f"/api/shares/{world['share'].id}/exports",
        json=body(world["cam"], T + dt.timedelta(seconds=3), T + dt.timedelta(seconds=5)),
    )
    assert r.status_code == 403, r.text
    denied = [a for a in audit_rows(session, "ex-officer") if a["action"] == "denied"]
    assert denied and denied[-1]["client_ip"] == "203.0.113.9"


def test_export_of_a_revoked_share_is_refused(session: Session, world: dict[str, Any]) -> None:
    world["share"].revoked_at = dt.datetime.now(dt.UTC)
    session.flush()
    r = world["client"].post(
        f"/api/shares/{world['share'].id}/exports",
        json=body(world["cam"], T + dt.timedelta(seconds=3), T + dt.timedelta(seconds=5)),
    )
    assert r.status_code == 403 and "revoked" in r.json()["detail"]["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "a\x00b"}, "reason"),
        ({"sneaky": 1}, "sneaky"),
        ({"end": "2026-01-01T00:00:00Z", "start": "2026-01-01T00:00:10Z"}, "end"),
        ({"camera_id": 2**31}, "camera_id"),
        ({"start": "not-a-time"}, "start"),
        ({"start": "0001-01-01T00:00:00", "end": "0001-01-01T00:00:05"}, None),
        ({"start": "9999-12-31T23:59:50Z", "end": "9999-12-31T23:59:59Z"}, None),
    ],
)
def test_bad_export_input_is_4xx_naming_the_field(
    world: dict[str, Any], change: dict[str, Any], field: str | None
) -> None:
    b = body(world["cam"], T + dt.timedelta(seconds=3), T + dt.timedelta(seconds=5)) | change
    r = world["client"].post(f"/api/shares/{world['share'].id}/exports", json=b)
    assert 400 <= r.status_code < 500, r.text
    if field is not None:
        assert r.json()["detail"].get("field") == field, r.json()


def test_export_is_audited_with_the_share_and_case(
    session: Session, world: dict[str, Any], tmp_path: Path
) -> None:
    p = export_zip(world, tmp_path)
    with zipfile.ZipFile(p) as z:
        m = json.loads(z.read("manifest.json"))
    rows = audit_rows(session, "ex-officer")
    view = [a for a in rows if a["action"] == "view" and a["detail"]["access"] == "export"]
    exp = [a for a in rows if a["action"] == "export"]
    assert len(view) == 1 and len(exp) == 1
    assert view[0]["id"] < exp[0]["id"]  # the gate's record first
    e = exp[0]
    assert e["share_id"] == world["share"].id and e["case_number"] == CASE
    assert e["camera_ids"] == [world["cam"]] and e["reason"] == "court file"
    assert e["detail"]["sha256"] == m["file"]["sha256"]


# --- the key ------------------------------------------------------------------------------------


def test_evidence_key_is_created_once_with_mode_0600(state: Path) -> None:
    path = ev.evidence_key_path()
    assert not path.exists()
    k1 = ev.evidence_key()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) & 0o077 == 0
    assert ev.public_key_pem(ev.evidence_key()) == ev.public_key_pem(k1)


def test_workers_starting_at_once_share_one_whole_key(state: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as ex:
        pems = set(ex.map(lambda _: ev.public_key_pem(ev.evidence_key()), range(16)))
    assert len(pems) == 1
    assert pems == {ev.public_key_pem(ev.evidence_key())}
    assert [p.name for p in ev.evidence_key_path().parent.iterdir()] == ["evidence_ed25519.pem"]


def test_a_key_readable_by_others_is_refused(state: Path) -> None:
    from geo.errors import Unavailable

    ev.evidence_key()
    os.chmod(ev.evidence_key_path(), 0o644)
    with pytest.raises(Unavailable) as e:
        ev.evidence_key()
    assert e.value.field == "evidence_key"


def test_manifest_json_is_canonical() -> None:
    assert ev.canonical_json({"b": 1, "a": "대전"}) == '{\n  "a": "대전",\n  "b": 1\n}\n'.encode()
    assert io.BytesIO(ev.canonical_json({})).read() == b"{}\n"
