"""Motion alerts: background subtraction on recorded cameras, ranked for the operator.

Detection runs MOG2 on a grey, downscaled frame (``settings.motion_width_px``, 160 px wide by
default: 9x fewer pixels than 480x360) on every ``stride``-th frame, after a short warm-up while the
background model settles. Foreground is cleaned by a 3x3 opening; its fraction of the frame is the
``area_frac`` and the union box of the larger blobs (scaled back to native pixels) is the ``box``.
Events are debounced per camera: motion opens a window of ``debounce_s`` seconds, and one event
sums it up (peak area, box at the peak, how many processed frames moved) when the window closes.

``score`` in 0..1 = 0.6 * min(1, peak_area_frac / 0.05) + 0.4 * (moving frames / processed frames
in the window): large and persistent motion scores high, a flicker scores low.

:func:`rank_alerts` orders recent events for the operator by recency, by geodesic distance from
the camera to the nearest open incident, and by the motion score, and says why.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.models.video import MotionEvent
from geo.settings import get_settings

AREA_FULL_SCORE = 0.05  # a peak covering 5% of the frame scores the full area part


@dataclass
class Motion:
    """One debounced motion event (box in native image pixels ``x, y, w, h``)."""

    at: dt.datetime
    until_at: dt.datetime
    box: tuple[int, int, int, int]
    area_frac: float
    score: float
    frames: int


@dataclass
class _Window:
    at: dt.datetime
    until_at: dt.datetime
    box: tuple[int, int, int, int]
    peak: float
    moving: int = 1
    processed: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class MotionDetector:
    """Feed it every frame of one camera; it returns a :class:`Motion` when a window closes."""

    def __init__(
        self,
        *,
        width_px: int | None = None,
        stride: int = 2,
        min_area_frac: float = 0.002,
        debounce_s: float | None = None,
        warmup_frames: int = 10,
        history: int = 300,
        var_threshold: float = 25.0,
    ) -> None:
        s = get_settings()
        self.width_px = width_px or s.motion_width_px
        self.stride = max(1, stride)
        self.min_area_frac = min_area_frac
        self.debounce_s = s.motion_debounce_s if debounce_s is None else debounce_s
        self.warmup_frames = warmup_frames
        self.mog = cv2.createBackgroundSubtractorMOG2(
            history=history, varThreshold=var_threshold, detectShadows=False
        )
        self.kernel = np.ones((3, 3), np.uint8)
        self.seen = 0
        self.processed = 0
        self._win: _Window | None = None

    def wants(self) -> bool:
        """Whether the next frame will be analysed (callers may ``grab()`` without decoding)."""
        return self.seen % self.stride == 0

    def skip(self) -> None:
        """Count a frame that was not decoded (see :meth:`wants`)."""
        self.seen += 1

    def analyse(
        self, frame: np.ndarray, *, native_width: int | None = None
    ) -> tuple[float, tuple[int, int, int, int] | None]:
        """Foreground fraction and union box (native pixels) of one frame; updates the model.

        ``native_width``: the camera's frame width when ``frame`` was already scaled down (the
        remux recorder decodes key frames straight to a small grey picture), to scale the box."""
        h, w = frame.shape[:2]
        scale = self.width_px / w if w > self.width_px else 1.0
        small = (
            cv2.resize(
                frame,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
            if scale < 1
            else frame
        )
        if native_width and native_width > w:
            scale *= w / native_width
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        fg = self.mog.apply(small)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self.kernel)
        area = cv2.countNonZero(fg) / fg.size
        if area < self.min_area_frac:
            return area, None
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_blob = max(4.0, self.min_area_frac * fg.size * 0.25)
        boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= min_blob]
        if not boxes:
            return area, None
        x0 = min(b[0] for b in boxes)
        y0 = min(b[1] for b in boxes)
        x1 = max(b[0] + b[2] for b in boxes)
        y1 = max(b[1] + b[3] for b in boxes)
        inv = 1 / scale
        box = (
            int(x0 * inv),
            int(y0 * inv),
            int(math.ceil((x1 - x0) * inv)),
            int(math.ceil((y1 - y0) * inv)),
        )
        return area, box

    def feed(
        self, ts: dt.datetime, frame: np.ndarray | None, *, native_width: int | None = None
    ) -> Motion | None:
        """Process one frame (``None`` = grabbed, not decoded); a closed window's event or None."""
        if not self.wants() or frame is None:
            self.seen += 1
            return self._maybe_close(ts)
        self.seen += 1
        area, box = self.analyse(frame, native_width=native_width)
        self.processed += 1
        if self.processed <= self.warmup_frames:
            return None
        out = self._maybe_close(ts)
        w = self._win
        if w is not None:
            w.processed += 1
            if box is not None:
                w.moving += 1
                w.until_at = ts
                if area > w.peak:
                    w.peak, w.box = area, box
        elif box is not None:
            self._win = _Window(at=ts, until_at=ts, box=box, peak=area)
        return out

    def _maybe_close(self, ts: dt.datetime) -> Motion | None:
        w = self._win
        if w is None or (ts - w.at).total_seconds() < self.debounce_s:
            return None
        return self.flush()

    def flush(self) -> Motion | None:
        """Close the open window now (end of a recording) and return its event, if any."""
        w, self._win = self._win, None
        if w is None:
            return None
        score = 0.6 * min(1.0, w.peak / AREA_FULL_SCORE) + 0.4 * (w.moving / max(1, w.processed))
        return Motion(
            at=w.at,
            until_at=w.until_at,
            box=w.box,
            area_frac=round(w.peak, 5),
            score=round(score, 4),
            frames=w.moving,
        )


def store_events(session: Session, *, camera_id: int, events: list[Motion]) -> int:
    """Insert motion events of one camera; returns how many."""
    for e in events:
        x, y, w, h = e.box
        session.add(
            MotionEvent(
                camera_id=camera_id,
                at=e.at,
                until_at=e.until_at,
                box_x=x,
                box_y=y,
                box_w=w,
                box_h=h,
                area_frac=e.area_frac,
                score=e.score,
                frames=e.frames,
            )
        )
    session.flush()
    return len(events)


# --- alerts ------------------------------------------------------------------------------------

RECENCY_HALF_LIFE_S = 600.0  # an alert 10 minutes old counts half as recent
DISTANCE_HALF_M = 200.0  # a camera 200 m from an open incident counts half as close
W_PROXIMITY, W_RECENCY, W_MOTION = 0.45, 0.35, 0.20


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def rank_alerts(
    session: Session,
    *,
    now: dt.datetime | None = None,
    since_s: int = 24 * 3600,
    camera_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Motion events of the last ``since_s`` seconds ranked for the operator.

    rank = 0.45 * proximity + 0.35 * recency + 0.20 * motion score, where proximity =
    0.5 ** (distance to the nearest open incident / 200 m) (0 without open incidents), recency =
    0.5 ** (age / 600 s). Each alert carries the parts, a sentence saying why, and links to open
    the video and to push a share from the incident.
    """
    now = now or dt.datetime.now(dt.UTC)
    rows = session.execute(
        text(
            """
            select m.id, m.camera_id, m.at, m.until_at, m.box_x, m.box_y, m.box_w, m.box_h,
                   m.area_frac, m.score, m.frames, c.name as camera_name,
                   st_y(c.geom) as lat, st_x(c.geom) as lon,
                   inc.id as incident_id, inc.case_number, inc.kind as incident_kind,
                   inc.distance_m
            from motion_events m
            join cameras c on c.id = m.camera_id
            left join lateral (
                select i.id, i.case_number, i.kind,
                       st_distance(i.geom::geography, c.geom::geography) as distance_m
                from incidents i
                where i.status = 'open'
                order by i.geom::geography <-> c.geom::geography
                limit 1
            ) inc on true
            where m.at > cast(:now as timestamptz) - make_interval(secs => :since)
              and m.at <= cast(:now as timestamptz)
              and (cast(:cam as integer) is null or m.camera_id = :cam)
            order by m.at desc
            limit 5000
            """
        ),
        {"now": now, "since": since_s, "cam": camera_id},
    ).mappings()
    alerts: list[dict[str, Any]] = []
    for r in rows:
        age_s = max(0.0, (now - r["at"]).total_seconds())
        recency = 0.5 ** (age_s / RECENCY_HALF_LIFE_S)
        dist = r["distance_m"]
        proximity = 0.5 ** (dist / DISTANCE_HALF_M) if dist is not None else 0.0
        rank = W_PROXIMITY * proximity + W_RECENCY * recency + W_MOTION * r["score"]
        cid = r["camera_id"]
        near = (
            f"{dist:.0f} m from open incident {r['incident_id']}"
            + (f" (case {r['case_number']})" if r["case_number"] else "")
            if dist is not None
            else "no open incident"
        )
        why = (
            f"motion {r['area_frac'] * 100:.1f}% of frame, score {r['score']:.2f}; "
            f"{age_s / 60:.0f} min ago; {near}"
        )
        start = r["at"] - dt.timedelta(seconds=10)
        end = max(r["until_at"], r["at"]) + dt.timedelta(seconds=10)
        links: dict[str, Any] = {
            "snapshot": f"/api/cameras/{cid}/snapshot.jpg?at={_iso(r['at'])}",
            "clip": f"/api/cameras/{cid}/clip.mp4?start={_iso(start)}&end={_iso(end)}",
            "live": f"/api/cameras/{cid}/live.mjpg",
        }
        if r["incident_id"] is not None:
            links["push_share"] = {
                "method": "POST",
                "href": f"/api/incidents/{r['incident_id']}/shares",
                # the operator adds the recipient: "to_user" or "to_agency"
                "body": {
                    "camera_ids": [cid],
                    "start": _iso(start),
                    "end": _iso(end),
                    "reason": f"motion alert {r['id']} at camera {cid}: {why}",
                },
            }
        alerts.append(
            {
                "id": r["id"],
                "camera_id": cid,
                "camera_name": r["camera_name"],
                "lat": r["lat"],
                "lon": r["lon"],
                "at": r["at"],
                "until_at": r["until_at"],
                "box": {"x": r["box_x"], "y": r["box_y"], "w": r["box_w"], "h": r["box_h"]},
                "area_frac": r["area_frac"],
                "motion_score": r["score"],
                "frames": r["frames"],
                "incident_id": r["incident_id"],
                "incident_case_number": r["case_number"],
                "incident_kind": r["incident_kind"],
                "distance_m": None if dist is None else round(float(dist), 1),
                "age_s": round(age_s, 1),
                "rank_score": round(rank, 4),
                "score_parts": {
                    "proximity": round(proximity, 4),
                    "recency": round(recency, 4),
                    "motion": r["score"],
                    "weights": {"proximity": W_PROXIMITY, "recency": W_RECENCY, "motion": W_MOTION},
                },
                "why": why,
                "links": links,
            }
        )
    alerts.sort(key=lambda a: (-a["rank_score"], -a["at"].timestamp()))
    return alerts[:limit]
