"""Evidence export: a watermarked clip in a ZIP with a manifest signed by the service.

An officer holding an active share exports ``[start, end)`` of one of its cameras. The clip is cut
from the archive (:func:`geo.video.archive.cut_clip`) through the share's egress filter (masks,
face blur), and every frame gets a **visible watermark** burned in (case number, share, user,
camera and the frame's own time, white on a black box in the top-left corner), so a still taken
from the file still says whose copy it is and when the frame was recorded.

The ZIP holds:

``<clip>.mp4``
    the watermarked clip;
``manifest.json``
    what the file is (SHA-256, size, frames, codec), which camera and window, which share and case,
    who exported it from which address and when, the service version and the id of the ``export``
    audit record; canonical JSON (UTF-8, sorted keys) so its bytes are stable;
``manifest.sig``
    the raw 64-byte **Ed25519** signature of the ``manifest.json`` bytes by the service's evidence
    key (``settings.home / "keys" / "evidence_ed25519.pem"``, mode 0600, made on first use);
``public_key.pem``
    the public half of that key (compare its fingerprint with ``GET /api/evidence/public-key`` or
    verify against that PEM: a key inside the ZIP proves integrity, not origin).

:func:`verify_evidence` checks a ZIP (``goldentime export verify FILE.zip``); without the
``goldentime`` tools, ``openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in
manifest.json -sigfile manifest.sig`` and ``sha256sum`` do the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from geo import __version__
from geo.access.audit import audit
from geo.errors import InvalidInput, Unavailable
from geo.models.access import Share, User
from geo.settings import get_settings
from geo.times import now_utc
from geo.video import archive, privacy

#: Identifies the manifest layout; bump when a field changes meaning.
MANIFEST_FORMAT = "goldentime-evidence/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
PUBLIC_KEY_NAME = "public_key.pem"
#: Longest export reason kept (the legal basis, as for a share).
MAX_REASON_CHARS = 1000


# --- the evidence key ---------------------------------------------------------------------------


def evidence_key_path() -> Path:
    """Where the service's evidence signing key lives (``settings.home/keys``)."""
    return Path(get_settings().home) / "keys" / "evidence_ed25519.pem"


def evidence_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The service's Ed25519 evidence key, created (mode 0600, folder 0700) on first use.

    Creation is atomic and exclusive (a hard link of a complete temporary file), so two workers
    starting at once end up with one whole key. A key file readable by group or others is
    refused (:class:`Unavailable`, field ``evidence_key``): a leaked key lets anyone forge
    evidence.
    """
    path = Path(path or evidence_key_path())
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # written whole to a private temporary file, then linked into place: the key file
        # appears complete or not at all, and link() fails if another process won the race
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)  # mkstemp: mode 0600, a name no other process or thread has
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            return key
        finally:
            tmp.unlink(missing_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise Unavailable(
            f"evidence key {path} is readable by others (mode {mode:o}); chmod 600 it",
            field="evidence_key",
        )
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as e:
        raise Unavailable(f"evidence key {path} is unreadable: {e}", field="evidence_key") from e
    if not isinstance(loaded, Ed25519PrivateKey):
        raise Unavailable(f"evidence key {path} is not an Ed25519 key", field="evidence_key")
    return loaded


def public_key_pem(key: Ed25519PrivateKey | None = None) -> bytes:
    """The public half of the evidence key as PEM (SubjectPublicKeyInfo)."""
    key = key or evidence_key()
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key: what a person compares by eye."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key; :class:`InvalidInput` (field ``public_key``) unless Ed25519."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as e:
        raise InvalidInput(f"not a PEM public key: {e}", field="public_key") from e
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("the public key is not an Ed25519 key", field="public_key")
    return key


# --- the watermark ------------------------------------------------------------------------------


def _ascii(s: str | None) -> str:
    """Hershey fonts draw ASCII only: other characters become ``?`` (the manifest keeps them)."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in (s or "-"))


def _iso_ms(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def watermark_lines(
    *, case_number: str | None, share_id: int | None, username: str, camera_id: int, at: dt.datetime
) -> list[str]:
    """The watermark's text for one frame: case and share, user and camera, the frame's UTC time."""
    return [
        f"CASE {_ascii(case_number)}  SHARE {share_id if share_id is not None else '-'}",
        f"USER {_ascii(username)}  CAM {camera_id}",
        _iso_ms(at),
    ]


def watermark_box(width: int, height: int, lines: Sequence[str]) -> tuple[int, int, float, int]:
    """``(box_w, box_h, font_scale, thickness)`` of the watermark for a ``width`` x ``height``
    frame: text about 1/40 of the width high, the box clipped to the frame."""
    scale = max(0.35, width / 1100.0)
    thick = max(1, round(scale * 2))
    pad = max(3, round(6 * scale))
    sizes = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick) for t in lines]
    line_h = max(s[0][1] + s[1] for s in sizes) + pad
    box_w = min(width, max(s[0][0] for s in sizes) + 2 * pad)
    box_h = min(height, line_h * len(lines) + pad)
    return box_w, box_h, scale, thick


def burn_watermark(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Burn ``lines`` into the top-left corner of ``frame`` in place: white text on a black box
    (legible on any scene, and a box nobody can crop away without losing the corner)."""
    h, w = frame.shape[:2]
    box_w, box_h, scale, thick = watermark_box(w, h, lines)
    pad = max(3, round(6 * scale))
    cv2.rectangle(frame, (0, 0), (box_w - 1, box_h - 1), (0, 0, 0), thickness=-1)
    y = pad
    for t in lines:
        (tw, th), base = cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        y += th
        cv2.putText(
            frame,
            t,
            (pad, y),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )
        y += base + pad
    return frame


def frame_times(
    session: Session, *, camera_id: int, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """The times of the frames :func:`geo.video.archive.iter_frames` yields for the window, from
    the segment index alone (no decoding): the same rule, so the n-th time belongs to the n-th
    frame of the clip (:func:`cut_evidence` checks the counts agree)."""
    out: list[dt.datetime] = []
    last: dt.datetime | None = None
    for seg in archive.segments(session, camera_id=camera_id, start=start, end=end):
        i = max(0, int(np.ceil((start - seg.start_at).total_seconds() * seg.fps - 1e-6)))
        while i < seg.frames:
            ts = seg.start_at + dt.timedelta(seconds=i / seg.fps)
            if ts >= end:
                break
            i += 1
            if last is not None and ts <= last:
                continue
            last = ts
            out.append(ts)
    return out


class Watermarker:
    """The egress filter (masks, face blur) followed by the watermark, frame by frame in order.

    Has ``stream`` (and ``batch``) like :class:`geo.video.privacy.FrameFilter`, so
    :func:`archive.cut_clip` gives it the frames as they come and face detection keeps its
    look-ahead. ``used`` counts frames stamped.
    """

    def __init__(
        self,
        inner: privacy.FrameFilter,
        times: Sequence[dt.datetime],
        *,
        case_number: str | None,
        share_id: int | None,
        username: str,
        camera_id: int,
    ) -> None:
        self.inner = inner
        self.times = list(times)
        self.used = 0
        self.case_number, self.share_id = case_number, share_id
        self.username, self.camera_id = username, camera_id

    def _stamp(self, frame: np.ndarray) -> np.ndarray:
        if self.used >= len(self.times):
            raise Unavailable(
                "the archive yielded more frames than its index lists; export refused",
                field="archive",
            )
        at = self.times[self.used]
        self.used += 1
        lines = watermark_lines(
            case_number=self.case_number,
            share_id=self.share_id,
            username=self.username,
            camera_id=self.camera_id,
            at=at,
        )
        return burn_watermark(frame, lines)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self._stamp(self.inner(frame))

    def batch(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return [self._stamp(f) for f in self.inner.batch(frames)]

    def stream(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for f in self.inner.stream(frames):
            yield self._stamp(f)


def cut_evidence(
    session: Session,
    *,
    share: Share,
    user: User,
    camera_id: int,
    start: dt.datetime,
    end: dt.datetime,
    out_dir: Path | None = None,
) -> archive.Clip:
    """Cut the watermarked, privacy-filtered clip of ``[start, end)`` for an export under
    ``share`` (already allowed by the gate). The caller deletes ``clip.path``. Refuses
    (:class:`Unavailable`) when a frame cannot be decoded: a watermark with a wrong time is worse
    than no export."""
    start, end = archive.check_clip_window(start, end)
    times = frame_times(session, camera_id=camera_id, start=start, end=end)
    wm = Watermarker(
        privacy.egress_filter(session, camera_id=camera_id, share=share),
        times,
        case_number=share.case_number,
        share_id=share.id,
        username=user.username,
        camera_id=camera_id,
    )
    clip = archive.cut_clip(
        session, camera_id=camera_id, start=start, end=end, transform=wm, out_dir=out_dir
    )
    if wm.used != len(times) or clip.frames != len(times):
        clip.path.unlink(missing_ok=True)
        raise Unavailable(
            f"{len(times) - wm.used} of {len(times)} indexed frames could not be decoded; "
            "export refused (frame times would be wrong)",
            field="archive",
        )
    return clip


# --- manifest, signature, ZIP -------------------------------------------------------------------


def canonical_json(obj: Any) -> bytes:
    """Stable bytes of a manifest: UTF-8, sorted keys, two-space indent, trailing newline."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


@dataclass
class Evidence:
    """One finished export: the ZIP's bytes, its name, the manifest and the audit record id."""

    zip_bytes: bytes
    filename: str
    manifest: dict[str, Any]
    audit_id: int


def _clean_reason(reason: str) -> str:
    r = (reason or "").strip()
    if not r:
        raise InvalidInput("an export needs a reason (the legal basis)", field="reason")
    if "\x00" in r:
        raise InvalidInput("reason must not contain NUL characters", field="reason")
    if len(r) > MAX_REASON_CHARS:
        raise InvalidInput(f"reason is longer than {MAX_REASON_CHARS} characters", field="reason")
    return r


def build_manifest(
    *,
    clip: archive.Clip,
    clip_name: str,
    sha256: str,
    size: int,
    share: Share,
    user: User,
    client_ip: str,
    camera_id: int,
    start: dt.datetime,
    end: dt.datetime,
    reason: str,
    exported_at: dt.datetime,
    audit_id: int,
    public_key: Ed25519PublicKey,
) -> dict[str, Any]:
    """The manifest of one export (see the module docstring); every time in UTC ISO 8601."""
    return {
        "format": MANIFEST_FORMAT,
        "file": {
            "name": clip_name,
            "sha256": sha256,
            "bytes": size,
            "frames": clip.frames,
            "fps": clip.fps,
            "codec": clip.codec,
            "first_frame_at": _iso_ms(clip.start),
            "end_at": _iso_ms(clip.end),
        },
        "camera_id": camera_id,
        "window": {"start": _iso_ms(start), "end": _iso_ms(end)},
        "share_id": share.id,
        "case_number": share.case_number,
        "incident_id": share.incident_id,
        "share_reason": share.reason,
        "reason": reason,
        "user": {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "agency": user.agency_name,
        },
        "client_ip": client_ip,
        "exported_at": _iso_ms(exported_at),
        "service": {"name": "goldentime", "version": __version__},
        "audit_id": audit_id,
        "privacy": {"face_blur": bool(share.face_blur), "masks": "camera masks applied"},
        "watermark": {
            "corner": "top-left",
            "text": "CASE <case> SHARE <share> / USER <user> CAM <camera> / <frame time UTC>",
        },
        "signature": {
            "algorithm": "Ed25519",
            "signed_file": MANIFEST_NAME,
            "signature_file": SIGNATURE_NAME,
            "public_key_sha256": key_fingerprint(public_key),
        },
    }


def write_evidence_zip(
    *,
    clip_path: Path,
    clip_name: str,
    manifest: dict[str, Any],
    key: Ed25519PrivateKey,
    when: dt.datetime,
) -> bytes:
    """The ZIP: the clip (stored, it is compressed already), ``manifest.json``, its signature and
    the public key. Entry times are ``when`` (the export time)."""
    data = canonical_json(manifest)
    stamp = when.astimezone(dt.UTC).timetuple()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:

        def _put(name: str, payload: bytes, compress: int) -> None:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = compress
            info.external_attr = 0o644 << 16
            z.writestr(info, payload)

        _put(clip_name, clip_path.read_bytes(), zipfile.ZIP_STORED)
        _put(MANIFEST_NAME, data, zipfile.ZIP_DEFLATED)
        _put(SIGNATURE_NAME, key.sign(data), zipfile.ZIP_STORED)
        _put(PUBLIC_KEY_NAME, public_key_pem(key), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def export_evidence(
    session: Session,
    *,
    share: Share,
    user: User,
    client_ip: str,
    camera_id: int,
    start: dt.datetime,
    end: dt.datetime,
    reason: str,
) -> Evidence:
    """Cut, watermark, audit and sign one export under ``share``, which the gate has allowed
    (``authorize_video(..., action="export", share_id=...)``) and whose ``view`` record the
    caller has committed. Writes the ``export`` audit record (with the file's SHA-256) in the
    caller's transaction: commit it before sending the bytes."""
    reason = _clean_reason(reason)
    start, end = archive.check_clip_window(start, end)
    key = evidence_key()
    clip = cut_evidence(session, share=share, user=user, camera_id=camera_id, start=start, end=end)
    try:
        sha, size = sha256_file(clip.path)
        stamp = start.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        clip_name = f"camera{camera_id}_{stamp}.mp4"
        exported_at = now_utc()
        audit_id = audit(
            session,
            action="export",
            user=user,
            client_ip=client_ip,
            share_id=share.id,
            case_number=share.case_number,
            incident_id=share.incident_id,
            camera_ids=[camera_id],
            start=start,
            end=end,
            reason=reason,
            detail={
                "export": "evidence",
                "file": clip_name,
                "sha256": sha,
                "bytes": size,
                "frames": clip.frames,
                "face_blur": bool(share.face_blur),
                "public_key_sha256": key_fingerprint(key.public_key()),
            },
        )
        manifest = build_manifest(
            clip=clip,
            clip_name=clip_name,
            sha256=sha,
            size=size,
            share=share,
            user=user,
            client_ip=client_ip,
            camera_id=camera_id,
            start=start,
            end=end,
            reason=reason,
            exported_at=exported_at,
            audit_id=audit_id,
            public_key=key.public_key(),
        )
        data = write_evidence_zip(
            clip_path=clip.path, clip_name=clip_name, manifest=manifest, key=key, when=exported_at
        )
    finally:
        clip.path.unlink(missing_ok=True)
    return Evidence(
        zip_bytes=data,
        filename=f"evidence_share{share.id}_camera{camera_id}_{stamp}.zip",
        manifest=manifest,
        audit_id=audit_id,
    )


# --- verification -------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What :func:`verify_evidence` found: ``ok`` only when every check passed."""

    ok: bool = False
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    key_source: str = ""
    key_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "checks": self.checks,
            "key_source": self.key_source,
            "key_sha256": self.key_sha256,
            "manifest": self.manifest,
        }


def verify_evidence(path: Path, *, public_key: bytes | None = None) -> VerifyReport:
    """Check an evidence ZIP: signature of ``manifest.json`` (by ``public_key`` PEM, else by the
    key inside the ZIP, which then proves integrity only), the clip's SHA-256 and size against the
    manifest, and no missing, duplicated or extra entries. Every failed check is named."""
    rep = VerifyReport()
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        rep.problems.append(f"not a readable ZIP file: {e}")
        return rep
    with z:
        names = [i.filename for i in z.infolist()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            rep.problems.append(f"duplicate entries in the ZIP: {', '.join(dupes)}")
        missing = [n for n in (MANIFEST_NAME, SIGNATURE_NAME) if n not in names]
        if missing:
            rep.problems.append(f"missing from the ZIP: {', '.join(missing)}")
            return rep
        data = z.read(MANIFEST_NAME)
        sig = z.read(SIGNATURE_NAME)
        if public_key is not None:
            rep.key_source = "given public key"
            pem = public_key
        elif PUBLIC_KEY_NAME in names:
            rep.key_source = f"{PUBLIC_KEY_NAME} inside the ZIP (integrity only: compare its "
            rep.key_source += "fingerprint with the service's GET /api/evidence/public-key)"
            pem = z.read(PUBLIC_KEY_NAME)
        else:
            rep.problems.append(f"no public key: give --public-key (no {PUBLIC_KEY_NAME} in ZIP)")
            return rep
        try:
            pub = load_public_key(pem)
        except InvalidInput as e:
            rep.problems.append(f"public key: {e.message}")
            return rep
        rep.key_sha256 = key_fingerprint(pub)
        try:
            pub.verify(sig, data)
            rep.checks.append(f"{SIGNATURE_NAME}: valid Ed25519 signature of {MANIFEST_NAME}")
        except InvalidSignature:
            rep.problems.append(
                f"{SIGNATURE_NAME}: signature does NOT match {MANIFEST_NAME} under the key "
                f"{rep.key_sha256[:16]}... (manifest altered, or signed by another key)"
            )
        try:
            manifest = json.loads(data)
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            rep.problems.append(f"{MANIFEST_NAME} is not valid JSON: {e}")
            return rep
        rep.manifest = manifest
        if manifest.get("format") != MANIFEST_FORMAT:
            rep.problems.append(f"unknown manifest format {manifest.get('format')!r}")
        want_fp = (manifest.get("signature") or {}).get("public_key_sha256")
        if want_fp and want_fp != rep.key_sha256:
            rep.problems.append(
                f"manifest names signing key {want_fp[:16]}..., verified with {rep.key_sha256[:16]}..."
            )
        f = manifest.get("file") or {}
        name = f.get("name")
        if not isinstance(name, str) or name not in names:
            rep.problems.append(f"the clip named in the manifest ({name!r}) is not in the ZIP")
        else:
            h = hashlib.sha256()
            size = 0
            with z.open(name) as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
                    size += len(block)
            if h.hexdigest() != f.get("sha256"):
                rep.problems.append(
                    f"{name}: SHA-256 {h.hexdigest()} differs from the manifest's {f.get('sha256')}"
                )
            else:
                rep.checks.append(f"{name}: SHA-256 matches the manifest")
            if size != f.get("bytes"):
                rep.problems.append(f"{name}: {size} bytes, the manifest says {f.get('bytes')}")
        extra = sorted(set(names) - {MANIFEST_NAME, SIGNATURE_NAME, PUBLIC_KEY_NAME, name})
        if extra:
            rep.problems.append(f"unexpected entries in the ZIP: {', '.join(extra)}")
    rep.ok = not rep.problems
    return rep
