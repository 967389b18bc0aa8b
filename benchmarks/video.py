"""Video: how many 10 fps cameras one 2-core machine can watch for motion, and egress latency.

Prints, in one run, on the bundled clip (480x360 H.264, 10 fps, 795 frames):

* frames/s per CPU-second (one thread, ``cv2.setNumThreads(1)``, FFmpeg ``threads;1``) of
  - decode only (``cap.read()``), the floor every pipeline pays;
  - **baseline**: decode + full-resolution MOG2 (OpenCV defaults, shadows on) on every frame;
  - **ours**: :class:`geo.video.motion.MotionDetector` (grey, 160 px wide, every 2nd frame; the
    skipped frames are ``grab()``-ed, not converted), with its morphology, contours and debounce;
  - the **recorder** pipeline: decode + ``mp4v`` segment write + ours (what ``goldentime record``
    does per frame);
  and from each the number of 10 fps cameras per core and on 2 cores;
* the same "ours" and "baseline" run as 2 processes at once (wall clock, total frames/s): what the
  machine really sustains, sharing its two cores with everything else that runs;
* egress latency (p50/p95, in-process, no HTTP): an archive snapshot (seek + mask + JPEG), a live
  snapshot (open the looping source + mask + JPEG), and a 20 s clip cut across segments with masks
  (H.264 via PyAV, against OpenCV ``mp4v``), each also with face blur;
* the recorder (``--recorder-only`` runs just this, issue 16): CPU per camera-second and cameras
  per 2 cores of today's re-encoding recorder (**baseline**) and the remux recorder, on the
  camera clip (H.264, key frame every second); a measured wall-clock run of ``--cameras`` live
  cameras through ``record_processes`` (2 processes) with frames kept vs due; snapshot and clip
  latency on a remuxed archive;
* face blur (``--faces-only`` runs just this): detection recall of YuNet (geo/video/faces.py)
  and of the **baseline** Haar cascade on real photographs shipped by scikit-image (astronaut,
  cameraman, tilted copies, 100 LFW faces and 100 non-faces pasted on clip frames, negatives),
  the cost per 480x360 frame, and a 20 s clip decoded, face-blurred and written as H.264: as
  last session (the stages in turn) and as ``archive.cut_clip`` now cuts it from a remuxed
  archive (the stages overlapping in threads; ``--blur-clip-only`` runs just this, with the
  masks-only clip as the baseline, the two taking turns).

Uses its own database ``goldentime_bench_video`` on the embedded cluster (never the service's)
and a temporary video dir. Run: ``.venv/bin/python benchmarks/video.py [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIP = ROOT / "data" / "video" / "vtest_480x360.avi"
BENCH_DB = "goldentime_bench_video"
CAMERA_FPS = 10.0


def _decode(cap: cv2.VideoCapture) -> Callable[[int], bool]:
    def step(i: int) -> bool:
        ok, _ = cap.read()
        return bool(ok)

    return step


def _baseline(cap: cv2.VideoCapture) -> Callable[[int], bool]:
    mog = cv2.createBackgroundSubtractorMOG2()

    def step(i: int) -> bool:
        ok, f = cap.read()
        if ok:
            mog.apply(f)
        return bool(ok)

    return step


def _ours(cap: cv2.VideoCapture) -> Callable[[int], bool]:
    from geo.video.motion import MotionDetector

    det = MotionDetector(width_px=160, stride=2, debounce_s=10)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def step(i: int) -> bool:
        ts = t0 + dt.timedelta(seconds=i / CAMERA_FPS)
        if det.wants():
            ok, f = cap.read()
            if ok:
                det.feed(ts, f)
        else:
            ok = cap.grab()
            if ok:
                det.feed(ts, None)
        return bool(ok)

    return step


def _recorder(cap: cv2.VideoCapture) -> Callable[[int], bool]:
    from geo.video.encode import VideoFileWriter
    from geo.video.motion import MotionDetector

    det = MotionDetector(width_px=160, stride=2, debounce_s=10)
    out = Path(tempfile.mkdtemp()) / "seg.mp4"
    w = VideoFileWriter(out, fps=CAMERA_FPS, width=480, height=360, backend="cv2-mp4v")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def step(i: int) -> bool:
        ok, f = cap.read()
        if ok:
            w.write(f)
            det.feed(t0 + dt.timedelta(seconds=i / CAMERA_FPS), f)
        else:
            w.close()
            out.unlink(missing_ok=True)
        return bool(ok)

    return step


PIPELINES: dict[str, Callable[[cv2.VideoCapture], Callable[[int], bool]]] = {
    "decode only": _decode,
    "baseline: full-res MOG2 every frame": _baseline,
    "ours: 160 px grey MOG2, every 2nd frame": _ours,
    "recorder: decode + mp4v write + ours": _recorder,
}


def run_pipeline(name: str, frames: int) -> dict[str, float]:
    """Run ``name`` over ``frames`` frames of the clip (looping); frames/s wall and per CPU-s."""
    cv2.setNumThreads(1)
    make = PIPELINES[name]
    cap = cv2.VideoCapture(str(CLIP), cv2.CAP_FFMPEG)
    step = make(cap)
    n = 0
    w0, c0 = time.perf_counter(), time.process_time()
    while n < frames:
        if not step(n):
            cap.release()
            cap = cv2.VideoCapture(str(CLIP), cv2.CAP_FFMPEG)
            step = make(cap)
            continue
        n += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    cap.release()
    return {"frames": n, "fps_wall": n / wall, "fps_cpu": n / cpu}


def _worker(args: tuple[str, int]) -> dict[str, float]:
    return run_pipeline(*args)


def parallel(name: str, frames: int, procs: int) -> float:
    """Total frames/s (wall) of ``procs`` processes each running ``name``."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(procs) as pool:
        w0 = time.perf_counter()
        res = pool.map(_worker, [(name, frames)] * procs)
        wall = time.perf_counter() - w0
    return sum(r["frames"] for r in res) / wall


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def latency(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    fn()  # warm
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return pct(ts, 50), pct(ts, 95)


def egress(n: int) -> list[tuple[str, float, float]]:
    """Snapshot and clip latencies on a bench database with 79.5 s of archive in 10 s segments."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from geo.video import archive, privacy
    from geo.video.sources import Source, demo_stream_url

    eng = create_engine(_bench_db())
    out: list[tuple[str, float, float]] = []
    with Session(eng) as s:
        cam, t0, _ = _bench_archive(s, CLIP)
        masks = [{"points": [[20, 20], [180, 20], [180, 120], [20, 120]]}]

        def plain() -> privacy.FrameFilter:  # a new filter per request, as the routes do
            return privacy.FrameFilter(masks, face_blur=False)

        def blur() -> privacy.FrameFilter:
            return privacy.FrameFilter(masks, face_blur=True)

        rng = np.random.default_rng(1)

        def jpeg(f: np.ndarray) -> bytes:
            return bytes(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])

        def snap(filt: Callable[[], privacy.FrameFilter]) -> Callable[[], Any]:
            def _f() -> Any:
                at = t0 + dt.timedelta(seconds=float(rng.uniform(0, 79)))
                return jpeg(filt()(archive.frame_at(s, camera_id=cam, at=at)[1]))

            return _f

        def live(filt: Callable[[], privacy.FrameFilter]) -> Callable[[], Any]:
            def _f() -> Any:
                with Source(demo_stream_url(CLIP)) as src:
                    return jpeg(filt()(src.read_now()[1]))

            return _f

        def clip(filt: Callable[[], privacy.FrameFilter], backend: str) -> Callable[[], Any]:
            def _f() -> Any:
                st = t0 + dt.timedelta(seconds=float(rng.uniform(5, 55)))
                c = archive.cut_clip(
                    s,
                    camera_id=cam,
                    start=st,
                    end=st + dt.timedelta(seconds=20),
                    transform=filt(),
                    backend=backend,
                )
                c.path.unlink()

            return _f

        out.append(("snapshot from archive (seek + mask + JPEG)", *latency(snap(plain), n)))
        out.append(("  + face blur (YuNet)", *latency(snap(blur), n)))
        out.append(("live snapshot (open looping source + mask + JPEG)", *latency(live(plain), n)))
        k = max(3, n // 4)
        out.append(("20 s clip, H.264 via PyAV, masks", *latency(clip(plain, "av-h264"), k)))
        out.append(("20 s clip, mp4v via OpenCV, masks", *latency(clip(plain, "cv2-mp4v"), k)))
        out.append(("20 s clip, H.264, masks + face blur", *latency(clip(blur, "av-h264"), k)))
        s.rollback()  # nothing of the bench stays in its database
    eng.dispose()
    shutil.rmtree(_settings().video_dir, ignore_errors=True)  # _bench_archive's folder
    return out


# --- face blur (issue 16): YuNet (geo.video.faces) against the Haar cascade it replaced ---------

Box = tuple[int, int, int, int]
ASTRO_FACE = (178, 62, 268, 176)  # skimage.data.astronaut(): x0, y0, x1, y1
CAMERAMAN_FACE = (195, 112, 256, 194)  # skimage.data.camera()


def haar_detect(frame: np.ndarray) -> list[Box]:
    """The baseline: OpenCV's frontal-face Haar cascade, as face blur ran it until issue 16."""
    import threading

    local = haar_detect.__dict__.setdefault("local", threading.local())
    c = getattr(local, "c", None)
    if c is None:  # CascadeClassifier is not thread-safe: one per thread
        c = local.c = cv2.CascadeClassifier(
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        )
    grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
    found = c.detectMultiScale(grey, scaleFactor=1.2, minNeighbors=4, minSize=(20, 20))
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


def _hit(boxes: list[Box], rect: tuple[float, ...]) -> bool:
    x0, y0, x1, y1 = rect
    return any(x0 <= x + w / 2 <= x1 and y0 <= y + h / 2 <= y1 for x, y, w, h in boxes)


def _bgr(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2BGR)


def _tilted(img: np.ndarray, rect: tuple[int, ...], deg: float) -> tuple[np.ndarray, tuple]:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    cx, cy = m @ np.array([(rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2, 1.0])
    r = (rect[2] - rect[0]) / 2
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT), (
        cx - r,
        cy - r,
        cx + r,
        cy + r,
    )


def face_cases() -> dict[str, list[tuple[np.ndarray, tuple | None]]]:
    """Real photographs that ship in scikit-image, and frames of the clip: (frame, face rect or
    None for a negative). LFW crops (25 px) are pasted on clip frames at 48 and 32 px."""
    from skimage import data

    cap = cv2.VideoCapture(str(CLIP))
    pets = []
    for i in range(800):
        ok, f = cap.read()
        if not ok:
            break
        if i % 10 == 0:
            pets.append(f)
    cap.release()
    astro, cam = _bgr(data.astronaut()), _bgr(data.camera())
    lfw = (data.lfw_subset() * 255).astype(np.uint8)

    def pasted(patches: np.ndarray, size: int, face: bool) -> list[tuple[np.ndarray, tuple | None]]:
        rng = np.random.default_rng(0)
        out: list[tuple[np.ndarray, tuple | None]] = []
        for i, p in enumerate(patches):
            f = pets[i % len(pets)].copy()
            x, y = int(rng.integers(20, 460 - size)), int(rng.integers(20, 340 - size))
            f[y : y + size, x : x + size] = cv2.resize(
                p, (size, size), interpolation=cv2.INTER_CUBIC
            )[..., None]
            out.append((f, (x, y, x + size, y + size)))
        return out

    tilted: list[tuple[np.ndarray, tuple | None]] = [
        _tilted(im, r, a)
        for im, r in ((astro, ASTRO_FACE), (cam, CAMERAMAN_FACE))
        for a in (-30, -20, 20, 30)
    ]
    return {
        "astronaut (frontal)": [(astro, ASTRO_FACE)],
        "cameraman (bent to viewfinder)": [(cam, CAMERAMAN_FACE)],
        "both tilted +-20/30 deg": tilted,
        "LFW faces, 48 px, on clip frames": pasted(lfw[:100], 48, True),
        "LFW faces, 32 px, on clip frames": pasted(lfw[:100], 32, True),
        "LFW non-faces, 48 px (false hits)": pasted(lfw[100:], 48, False),
        "cat, coffee, rocket (detections)": [
            (_bgr(data.chelsea()), None),
            (_bgr(data.coffee()), None),
            (_bgr(data.rocket()), None),
        ],
        "clip frames, 10 px heads (detections)": [(f, None) for f in pets],
    }


def _blurred_clip(filt: Any, every: int, frames: int = 200) -> None:
    """Decode ``frames`` of the clip, filter them in chunks of 50 and write H.264: a 20 s clip."""
    from geo.video.encode import VideoFileWriter

    out = Path(tempfile.mkdtemp(prefix="gt_bench_blur_")) / "clip.mp4"
    cap = cv2.VideoCapture(str(CLIP))
    w = VideoFileWriter(out, fps=CAMERA_FPS, width=480, height=360, backend="av-h264")
    buf: list[np.ndarray] = []
    for i in range(frames):
        ok, f = cap.read()
        if ok:
            buf.append(f)
        if len(buf) == 50 or (buf and (not ok or i == frames - 1)):
            for g in filt.batch(buf, every=every):
                w.write(g)
            buf = []
    w.close()
    cap.release()
    shutil.rmtree(out.parent, ignore_errors=True)


def face_blur(n: int) -> None:
    """Recall on real photographs, per-frame cost, and the blur filter of a 20 s clip, for the
    Haar baseline and YuNet, in this run."""
    from geo.video import faces, privacy

    dets: dict[str, Callable[[np.ndarray], list[Box]]] = {
        "baseline: Haar cascade": haar_detect,
        "ours: YuNet (FaceDetectorYN)": faces.detect_faces,
    }
    cases = face_cases()
    print(
        "\nface detection on real photographs (found / faces; false hits or detections for negatives):"
    )
    print(f"  {'case':40s} " + " ".join(f"{k[:28]:>28s}" for k in dets))
    for name, items in cases.items():
        cells = []
        for det in dets.values():
            if items[0][1] is None or "false hits" in name:
                hits = sum(len(det(f)) if r is None else _hit(det(f), r) for f, r in items)
                cells.append(f"{hits}")
            else:
                found = sum(_hit(det(f), r) for f, r in items if r is not None)
                cells.append(f"{found} / {len(items)}")
        print(f"  {name:40s} " + " ".join(f"{c:>28s}" for c in cells))

    frame = cases["LFW faces, 48 px, on clip frames"][0][0]  # a 480x360 clip frame with a face
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    print("\nper 480x360 frame, 1 thread (ms; CPU = this thread's CPU time):")
    for label, det in dets.items():
        det(frame)
        wall, cpu = [], []
        for _ in range(n):
            w0, c0 = time.perf_counter(), time.thread_time()
            det(frame)
            wall.append((time.perf_counter() - w0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
        print(
            f"  {label:40s} p50 {pct(wall, 50):6.1f}  p95 {pct(wall, 95):6.1f}  CPU p50 {pct(cpu, 50):6.1f}"
        )
    cv2.setNumThreads(-1)  # OpenCV's default (all cores), as the service runs

    print(
        "\na 20 s clip, as last session: decode 200 frames, then the filter, then H.264 (PyAV), "
        f"in turn by chunks of 50, {cv2.getNumThreads()} cv2 threads, load avg "
        f"{os.getloadavg()[0]:.1f}:"
    )
    runs: tuple[tuple[str, Callable[[np.ndarray], list[Box]] | None, int], ...] = (
        ("no face blur (masks only)", None, 1),
        ("baseline: Haar, detect every 5th frame", haar_detect, 5),
        (
            "ours: YuNet, every 3rd frame, interpolated",
            faces.detect_faces,
            privacy.CLIP_DETECT_EVERY,
        ),
        ("YuNet, detect every frame", faces.detect_faces, 1),
    )
    real = privacy.detect_faces
    for label, fn, every in runs:
        privacy.detect_faces = real if fn is None else fn  # type: ignore[assignment]
        wall, cpu = [], []
        for _ in range(max(3, n // 10)):
            w0, c0 = time.perf_counter(), time.process_time()
            _blurred_clip(privacy.FrameFilter([], face_blur=fn is not None), every)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        print(f"  {label:44s} wall p50 {pct(wall, 50):5.2f} s  CPU p50 {pct(cpu, 50):5.2f} s")
    privacy.detect_faces = real
    archive_blur_clips(max(3, n // 10))
    cv2.setNumThreads(threads)


class _Every:
    """A face-blur filter whose clip stream detects on every ``every``-th frame."""

    def __init__(self, inner: Any, every: int) -> None:
        self.inner, self.every = inner, every
        self.face_blur, self.polygons = inner.face_blur, inner.polygons

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.inner(frame)

    def stream(self, frames: Any) -> Any:
        return self.inner.stream(frames, every=self.every)


def archive_blur_clips(n: int, *, full: bool = True) -> None:
    """A 20 s clip as the service cuts it (``archive.cut_clip`` on an archive of remuxed H.264
    segments, as the remux recorder leaves it): decode, filter and H.264 encode overlapping in
    threads; masks only (the baseline) and face blur, in this run, the rows taking turns (one
    clip each, ``n`` rounds after a warm-up) so that a change in load hits them alike. Without
    ``full`` only the baseline and ours (``--blur-clip-only``)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from geo.video import archive, faces, privacy
    from geo.video.sources import camera_clip_path

    eng = create_engine(_bench_db())
    masks = [{"points": [[20, 20], [180, 20], [180, 120], [20, 120]]}]
    runs: list[tuple[str, Callable[[np.ndarray], list[Box]] | None, int]] = [
        ("masks only (the no-blur baseline)", None, 1),
        ("masks + ours: YuNet every 3rd, interpolated", faces.detect_faces, 3),
    ]
    if full:
        runs += [
            ("masks + Haar every 5th frame", haar_detect, 5),
            ("masks + YuNet every frame", faces.detect_faces, 1),
        ]
    real = privacy.detect_faces
    load0 = os.getloadavg()[0]
    wall: dict[str, list[float]] = {r[0]: [] for r in runs}
    cpu: dict[str, list[float]] = {r[0]: [] for r in runs}
    with Session(eng) as s:
        cam, t0, _ = _bench_archive(s, camera_clip_path())
        rng = np.random.default_rng(3)
        for k in range(n + 1):
            for label, fn, every in runs:
                privacy.detect_faces = real if fn is None else fn  # type: ignore[assignment]
                st = t0 + dt.timedelta(seconds=float(rng.uniform(5, 55)))
                filt = _Every(privacy.FrameFilter(masks, face_blur=fn is not None), every)
                w0, c0 = time.perf_counter(), time.process_time()
                c = archive.cut_clip(
                    s, camera_id=cam, start=st, end=st + dt.timedelta(seconds=20), transform=filt
                )
                if k:  # the first round is a warm-up
                    wall[label].append(time.perf_counter() - w0)
                    cpu[label].append(time.process_time() - c0)
                assert c.frames == 200
                c.path.unlink()
        privacy.detect_faces = real
        s.rollback()
    eng.dispose()
    shutil.rmtree(_settings().video_dir, ignore_errors=True)  # _bench_archive's folder
    print(
        "\na 20 s clip (200 frames) cut from a remuxed H.264 archive by archive.cut_clip, H.264 "
        f"out, {cv2.getNumThreads()} cv2 threads, {n} rounds, load avg {load0:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end:"
    )
    for label, *_ in runs:
        print(
            f"  {label:44s} wall p50 {pct(wall[label], 50):5.2f} s  p95 "
            f"{pct(wall[label], 95):5.2f} s  CPU p50 {pct(cpu[label], 50):5.2f} s"
        )


# --- recorder: remux vs today's re-encoding, per camera-second and measured --------------------


def recorder_cpu(
    kind: str, frames: int, interval_s: float = 1.0, fragmented: bool = True
) -> dict[str, float]:
    """CPU ms per camera-second (10 frames) of one recorder pipeline on the camera clip (H.264,
    key frame every second), one thread, 60 s segments written to a temp dir, motion on.

    ``encode``: today's recorder: OpenCV decodes every frame, ``mp4v`` segment write, motion on
    every 2nd frame. ``remux``: the camera's packets into MP4 segments (no decode, no encode),
    key frames decoded to 160 px grey for motion (what ``goldentime record`` does now; segments
    are fragmented MP4, a fragment per key frame, as the recorder writes them)."""
    from geo.video.encode import RemuxWriter, VideoFileWriter
    from geo.video.motion import MotionDetector
    from geo.video.sources import PacketSource, camera_stream_url

    cv2.setNumThreads(1)
    tmp = Path(tempfile.mkdtemp(prefix="gt_bench_rec_"))
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    per_seg = int(60 * CAMERA_FPS)
    w0, c0 = time.perf_counter(), time.process_time()
    n = 0
    if kind == "encode":
        det = MotionDetector(width_px=160, stride=2, debounce_s=10)
        url = camera_stream_url().split("?")[0].replace("file://", "")
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        w: Any = None
        while n < frames:
            ok, f = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            if w is None or w.frames >= per_seg:
                if w is not None:
                    w.close()
                w = VideoFileWriter(
                    tmp / f"s{n}.mp4", fps=CAMERA_FPS, width=480, height=360, backend="cv2-mp4v"
                )
            w.write(f)
            det.feed(t0 + dt.timedelta(seconds=n / CAMERA_FPS), f)
            n += 1
        cap.release()
    else:
        det = MotionDetector(width_px=160, stride=1, debounce_s=10, history=100)
        src = PacketSource(camera_stream_url() + "&pace=0")
        w = None
        next_at: dt.datetime | None = None
        while n < frames:
            ts, pkt, pts, dts = src.read()
            want = pkt.is_keyframe and (next_at is None or ts >= next_at)
            if want:  # as the recorder: a key frame at most every interval_s
                next_at = ts + dt.timedelta(seconds=interval_s - 0.05)
            small = src.motion_frame(pkt, want=want)
            det.feed(ts, small, native_width=src.width)
            if pkt.is_keyframe and (w is None or w.frames >= per_seg):
                if w is not None:
                    w.close()
                w = RemuxWriter(
                    tmp / f"s{n}.mp4", template=src.stream, fps=src.fps, fragmented=fragmented
                )
            if w is not None:
                w.write(pkt, pts=pts, dts=dts)
            n += 1
        src.close()
    if w is not None:
        w.close()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    shutil.rmtree(tmp, ignore_errors=True)
    return {"ms_per_cam_s": cpu / n * CAMERA_FPS * 1000, "fps_wall": n / wall}


def _bench_db() -> str:
    from sqlalchemy.engine import make_url

    from geo import embedded
    from geo.schema import migrate

    url = make_url(embedded.start().url()).set(database=BENCH_DB).render_as_string(False)
    migrate(url)
    return url


def _settings() -> Any:
    from geo.settings import get_settings

    return get_settings()


def _bench_archive(s: Any, clip: Path) -> tuple[int, dt.datetime, list[Any]]:
    """A new bench camera with ``clip`` imported as its archive (10 s segments from 2026-01-01,
    in a new temporary video folder): (camera id, archive start, segments)."""
    from sqlalchemy import text

    from geo.video import archive

    _settings().video_dir = Path(tempfile.mkdtemp(prefix="gt_bench_video_"))
    cam = s.execute(
        text(
            "insert into cameras (source, external_id, name, geom) values ('bench', :e, "
            "'bench', st_setsrid(st_makepoint(127.36, 36.36), 4326)) returning id"
        ),
        {"e": f"v{time.time_ns()}"},
    ).scalar_one()
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    segs = archive.import_video(s, camera_id=cam, path=clip, start_at=t0, segment_s=10)
    return int(cam), t0, list(segs)


def measured_run(n_cams: int, seconds: float, *, remux: bool, procs: int = 2) -> dict[str, float]:
    """Record ``n_cams`` live (paced, looping camera clip) cameras for ``seconds`` with the real
    recorder (``record_processes``: threads in ``procs`` processes, 10 s segments, motion on,
    the bench database): frames kept vs due, CPU used, segments that decode."""
    import resource

    from sqlalchemy import create_engine, text

    from geo.settings import get_settings
    from geo.video.recorder import record_processes
    from geo.video.remux import segment_decodes
    from geo.video.sources import camera_stream_url

    url = _bench_db()
    tmp = Path(tempfile.mkdtemp(prefix="gt_bench_fleet_"))
    os.environ["GOLDENTIME_DATABASE_URL"] = url
    os.environ["GOLDENTIME_VIDEO_DIR"] = str(tmp)
    get_settings.cache_clear()
    eng = create_engine(url)
    cam_url = camera_stream_url()
    with eng.begin() as c:
        ids = [
            c.execute(
                text(
                    "insert into cameras (source, external_id, name, geom, stream_url) values "
                    "('bench', :e, 'bench', st_setsrid(st_makepoint(127.36, 36.36), 4326), :u) "
                    "returning id"
                ),
                {"e": f"r{time.time_ns()}-{i}", "u": cam_url},
            ).scalar_one()
            for i in range(n_cams)
        ]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    steady: dict[str, float] = {}
    sampler = threading.Thread(target=_sample_children, args=(seconds, steady), daemon=True)
    sampler.start()
    try:
        out = record_processes(
            ids, processes=procs, segment_s=10, duration_s=seconds, motion=True, remux=remux
        )
        wall = time.perf_counter() - w0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        frames = sum(r["frames"] for r in out.values())
        # due: every camera's frames from its first recorded frame until its recorder stopped
        due = sum(
            (r["stopped_at"] - r["first_at"].timestamp()) * CAMERA_FPS
            for r in out.values()
            if r["first_at"] is not None and r["stopped_at"]
        )
        lag = max(
            (r["stopped_at"] - r["last_at"].timestamp() for r in out.values() if r["last_at"]),
            default=float("nan"),
        )
        with eng.connect() as c:
            segs = c.execute(
                text("select path, frames from video_segments where camera_id = any(:i)"),
                {"i": ids},
            ).all()
        sample = segs[:: max(1, len(segs) // 20)]
        ok = sum(segment_decodes(p, f) for p, f in sample)
    finally:
        with eng.begin() as c:
            c.execute(text("delete from cameras where id = any(:i)"), {"i": ids})
        eng.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "cams": n_cams,
        "kept": frames / max(1.0, due),
        "lag_s": lag,
        "recording": sum(1 for r in out.values() if r["frames"]),
        "cpu_ms_per_cam_s": cpu / (n_cams * seconds) * 1000,
        "steady_ms_per_cam_s": steady.get("cpu_s", float("nan"))
        / (n_cams * steady.get("window_s", float("nan")))
        * 1000,
        "wall": wall,
        "segments": len(segs),
        "decoded": ok / max(1, len(sample)),
        "errors": sum(len(r["errors"]) for r in out.values()),
    }


def _sample_children(seconds: float, out: dict[str, float]) -> None:
    """CPU seconds the recorder processes use in the middle of the run (after start-up, before
    the end): utime + stime of this process's children from /proc, sampled twice."""
    import multiprocessing as mpx

    def cpu() -> float:
        tot = 0.0
        for ch in mpx.active_children():
            try:
                f = Path(f"/proc/{ch.pid}/stat").read_text().rsplit(")", 1)[1].split()
                tot += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError):
                pass
        return tot

    warm = min(10.0, seconds / 3)
    window = max(1.0, seconds - warm - 2)
    time.sleep(warm)
    c0, t0 = cpu(), time.perf_counter()
    time.sleep(window)
    out["cpu_s"], out["window_s"] = cpu() - c0, time.perf_counter() - t0


def egress_remux(n: int) -> list[tuple[str, float, float]]:
    """Snapshot and clip latency on an archive of remuxed segments (the camera clip imported by
    remuxing, 10 s segments cut at key frames), as the remux recorder leaves it."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from geo.video import archive, privacy
    from geo.video.sources import camera_clip_path

    eng = create_engine(_bench_db())
    out: list[tuple[str, float, float]] = []
    with Session(eng) as s:
        cam, t0, segs = _bench_archive(s, camera_clip_path())
        assert segs and all(x.codec == "avc1" for x in segs)
        masks = [{"points": [[20, 20], [180, 20], [180, 120], [20, 120]]}]
        rng = np.random.default_rng(1)

        def snap() -> Any:
            at = t0 + dt.timedelta(seconds=float(rng.uniform(0, 79)))
            f = privacy.FrameFilter(masks, face_blur=False)(
                archive.frame_at(s, camera_id=cam, at=at)[1]
            )
            return bytes(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])

        def clip(masked: bool) -> Callable[[], Any]:
            def _f() -> Any:
                st = t0 + dt.timedelta(seconds=float(rng.uniform(5, 55)))
                filt = privacy.FrameFilter(masks if masked else [], face_blur=False)
                c = archive.cut_clip(
                    s, camera_id=cam, start=st, end=st + dt.timedelta(seconds=20), transform=filt
                )
                c.path.unlink()

            return _f

        k = max(3, n // 4)
        out.append(("snapshot from remuxed archive (seek + mask + JPEG)", *latency(snap, n)))
        out.append(("20 s clip from remuxed archive, no mask (remux)", *latency(clip(False), n)))
        out.append(
            ("20 s clip from remuxed archive, masks (H.264 re-encode)", *latency(clip(True), k))
        )
        s.rollback()
    eng.dispose()
    shutil.rmtree(_settings().video_dir, ignore_errors=True)  # _bench_archive's folder
    return out


def recorder_section(frames: int, n_measured: int, seconds: float, baseline_measured: int) -> None:
    """Print the recorder comparison: CPU per camera-second and capacity on 2 cores for today's
    re-encoding recorder (baseline) and the remux recorder, then measured wall-clock runs."""
    print("\nrecorder + motion, per camera (camera clip: H.264, key frame every 1 s, 10 fps):")
    print(f"  {'recorder':58s} {'CPU ms/cam-s':>12s} {'cams/2 cores':>12s}")
    cap: dict[str, float] = {}
    recorder_cpu("remux", 50)  # warm-up: the clip's packet index and PyAV, paid once per process
    for kind, label, every in (
        ("encode", "baseline: decode + mp4v encode + motion every 2nd frame", 1.0),
        ("remux", "ours: remux packets + motion on key frames (160 px grey)", 1.0),
        ("remux-plain", "ours with plain MP4 segments (not fragmented)", 1.0),
        ("remux2", "ours, --motion-interval-s 2 (every 2nd key frame)", 2.0),
    ):
        base = "encode" if kind == "encode" else "remux"
        r = recorder_cpu(base, frames, every, fragmented=kind != "remux-plain")
        cap[kind] = 2000 / r["ms_per_cam_s"]
        print(f"  {label:58s} {r['ms_per_cam_s']:12.2f} {cap[kind]:12.0f}")
    print(f"  remux vs baseline: {cap['remux'] / cap['encode']:.1f}x the cameras per CPU")
    print(
        f"\nmeasured: N live cameras (paced, looping camera clip) recorded by goldentime's recorder "
        f"for {seconds:.0f} s, 2 processes, 10 s segments, motion on, load avg "
        f"{os.getloadavg()[0]:.1f}:"
    )
    runs = [(baseline_measured, False), (n_measured, True)] if baseline_measured else []
    runs = runs or [(n_measured, True)]
    for n, remux in runs:
        m = measured_run(n, seconds, remux=remux)
        print(
            f"  {'remux' if remux else 'baseline (encode)':18s} {n:4d} cameras "
            f"({m['recording']} recorded): kept {m['kept'] * 100:5.1f}% of due frames, lag at "
            f"stop {m['lag_s']:.1f} s, CPU {m['steady_ms_per_cam_s']:5.2f} ms/cam-s steady "
            f"({m['cpu_ms_per_cam_s']:5.2f} with start-up), {m['segments']} segments "
            f"({m['decoded'] * 100:.0f}% of a sample decode), {m['errors']} errors, "
            f"wall {m['wall']:.0f} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=1590, help="frames per pipeline (2 loops)")
    ap.add_argument("--quick", action="store_true", help="fewer frames and samples")
    ap.add_argument("--faces-only", action="store_true", help="only the face-blur section")
    ap.add_argument(
        "--blur-clip-only", action="store_true", help="only the 20 s blurred clip vs no blur"
    )
    ap.add_argument("--recorder-only", action="store_true", help="only the recorder section")
    ap.add_argument("--cameras", type=int, default=200, help="measured remux run: cameras")
    ap.add_argument("--seconds", type=float, default=30, help="measured runs: seconds")
    ap.add_argument(
        "--baseline-cameras", type=int, default=0, help="also a measured baseline run (cameras)"
    )
    a = ap.parse_args()
    if a.recorder_only:
        recorder_section(800 if a.quick else a.frames, a.cameras, a.seconds, a.baseline_cameras)
        print("\negress latency (ms, in-process), today's mp4v archive, then a remuxed archive:")
        rows = egress(8 if a.quick else 20) + egress_remux(8 if a.quick else 20)
        for label, p50, p95 in rows:
            print(f"  {label:58s} p50 {p50:7.1f}  p95 {p95:7.1f}")
        return
    if a.blur_clip_only:
        archive_blur_clips(10 if a.quick else 20, full=False)
        return
    if a.faces_only:
        face_blur(20 if a.quick else 50)
        return
    frames = 800 if a.quick else a.frames
    print(
        f"video benchmark: {CLIP.name} 480x360 @ {CAMERA_FPS:.0f} fps, cv2 {cv2.__version__}, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}"
    )
    print("\n1 thread, per CPU-second (cameras = fps / 10):")
    print(
        f"  {'pipeline':44s} {'fps/CPU-s':>9s} {'fps wall':>9s} {'cams/core':>9s} {'cams/2 cores':>12s}"
    )
    res: dict[str, dict[str, float]] = {}
    for name in PIPELINES:
        r = res[name] = run_pipeline(name, frames)
        cams = r["fps_cpu"] / CAMERA_FPS
        print(f"  {name:44s} {r['fps_cpu']:9.0f} {r['fps_wall']:9.0f} {cams:9.0f} {2 * cams:12.0f}")
    base = res["baseline: full-res MOG2 every frame"]["fps_cpu"]
    ours = res["ours: 160 px grey MOG2, every 2nd frame"]["fps_cpu"]
    print(f"  ours vs baseline: {ours / base:.1f}x the frames per CPU-second")
    print("\n2 processes at once (wall clock, total over both, whatever else the machine runs):")
    for name in (
        "baseline: full-res MOG2 every frame",
        "ours: 160 px grey MOG2, every 2nd frame",
        "recorder: decode + mp4v write + ours",
    ):
        fps = parallel(name, frames, 2)
        print(f"  {name:44s} {fps:7.0f} fps -> {fps / CAMERA_FPS:5.0f} cameras at 10 fps")
    print("\negress latency (ms, in-process; the HTTP route adds the access gate's queries):")
    for label, p50, p95 in egress(8 if a.quick else 20):
        print(f"  {label:52s} p50 {p50:7.1f}  p95 {p95:7.1f}")
    for label, p50, p95 in egress_remux(8 if a.quick else 20):
        print(f"  {label:52s} p50 {p50:7.1f}  p95 {p95:7.1f}")
    recorder_section(frames, a.cameras, a.seconds, a.baseline_cameras)
    face_blur(20 if a.quick else 50)


if __name__ == "__main__":
    main()
