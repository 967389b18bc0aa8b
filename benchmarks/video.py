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
  (H.264 via PyAV, against OpenCV ``mp4v``), each also with face blur.

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
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    from geo import embedded
    from geo.schema import migrate
    from geo.settings import get_settings
    from geo.video import archive, privacy
    from geo.video.sources import Source, demo_stream_url

    url = make_url(embedded.start().url()).set(database=BENCH_DB).render_as_string(False)
    migrate(url)
    tmp = Path(tempfile.mkdtemp(prefix="gt_bench_video_"))
    get_settings().video_dir = tmp
    eng = create_engine(url)
    out: list[tuple[str, float, float]] = []
    with Session(eng) as s:
        cam = s.execute(
            text(
                "insert into cameras (source, external_id, name, geom) values ('bench', :e, "
                "'bench', st_setsrid(st_makepoint(127.36, 36.36), 4326)) returning id"
            ),
            {"e": f"v{time.time_ns()}"},
        ).scalar_one()
        t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        archive.import_video(s, camera_id=cam, path=CLIP, start_at=t0, segment_s=10)
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
        out.append(("  + face blur (Haar)", *latency(snap(blur), n)))
        out.append(("live snapshot (open looping source + mask + JPEG)", *latency(live(plain), n)))
        k = max(3, n // 4)
        out.append(("20 s clip, H.264 via PyAV, masks", *latency(clip(plain, "av-h264"), k)))
        out.append(("20 s clip, mp4v via OpenCV, masks", *latency(clip(plain, "cv2-mp4v"), k)))
        out.append(("20 s clip, H.264, masks + face blur", *latency(clip(blur, "av-h264"), k)))
        s.rollback()  # nothing of the bench stays in its database
    eng.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=1590, help="frames per pipeline (2 loops)")
    ap.add_argument("--quick", action="store_true", help="fewer frames and samples")
    a = ap.parse_args()
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


if __name__ == "__main__":
    main()
