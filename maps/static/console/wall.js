// The video wall: the live pictures of a share's cameras side by side, recorded playback over the
// share's window (a time slider), and the share's expiry. Links are used as the API gives them.
import { api, linkIsDirect, mediaFetch } from "./api.js";
import { t } from "./i18n.js";

/**
 * Bearer fallback: read a multipart/x-mixed-replace MJPEG stream with fetch() (the header carries
 * the token, never the URL) and show each JPEG part as a blob: URL in the <img>.
 */
async function streamMjpeg(url, img, signal, onFrame) {
  const r = await mediaFetch(url, signal);
  const reader = r.body.getReader();
  let buf = new Uint8Array(0);
  let last = null;
  const SOI = [0xff, 0xd8];
  const EOI = [0xff, 0xd9];
  const find = (a, pat, from) => {
    for (let i = from; i <= a.length - pat.length; i++) {
      if (a[i] === pat[0] && a[i + 1] === pat[1]) return i;
    }
    return -1;
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
    for (;;) {
      const s = find(buf, SOI, 0);
      if (s < 0) {
        buf = new Uint8Array(0);
        break;
      }
      const e = find(buf, EOI, s + 2);
      if (e < 0) {
        buf = buf.slice(s);
        break;
      }
      const jpg = buf.slice(s, e + 2);
      buf = buf.slice(e + 2);
      const u = URL.createObjectURL(new Blob([jpg], { type: "image/jpeg" }));
      img.src = u;
      if (last) URL.revokeObjectURL(last);
      last = u;
      onFrame();
    }
  }
}

function withParams(url, params) {
  const u = new URL(url, window.location.origin);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.pathname + u.search;
}

function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

export class VideoWall {
  constructor(root, { onError, onFirstFrame }) {
    this.root = root;
    this.onError = onError;
    this.onFirstFrame = onFirstFrame || (() => {});
    this.controllers = [];
    this.timer = null;
  }

  clear() {
    this.controllers.forEach((c) => c.abort());
    this.controllers = [];
    if (this.timer) window.clearInterval(this.timer);
    this.timer = null;
    this.root.querySelectorAll("img").forEach((img) => img.removeAttribute("src"));
    this.root.replaceChildren();
    this.root.hidden = true;
  }

  /** Show a share: cameras (features of a video-request answer) and the share record. */
  show(cameras, share) {
    this.clear();
    this.root.hidden = false;
    this.share = share;
    this.firstFrame = false;
    const head = document.createElement("div");
    head.className = "wall-head";
    const title = document.createElement("h2");
    title.textContent = `${t("video_wall")} · ${share.case_number || ""}`;
    const exp = document.createElement("span");
    exp.className = "wall-expiry";
    exp.dataset.testid = "share-expiry";
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = t("close");
    close.addEventListener("click", () => this.clear());
    head.append(title, exp, close);

    const tiles = document.createElement("div");
    tiles.className = "wall-tiles";
    this.tiles = cameras.map((f, i) => this.tile(f, i));
    tiles.append(...this.tiles.map((x) => x.el));

    const ctrl = this.timeControl(share);
    this.root.append(head, tiles, ctrl);
    const tick = () => {
      if (!share.expires_at) return; // the centre's own monitoring: no share, no expiry
      const ms = new Date(share.expires_at) - Date.now();
      const min = Math.max(0, Math.floor(ms / 60000));
      exp.textContent = `${t("expires")}: ${fmtTime(share.expires_at)} (${t("expires_in")} ${min} ${t("minutes")})`;
    };
    tick();
    this.timer = window.setInterval(tick, 30000);
    this.tiles.forEach((x) => this.live(x));
  }

  tile(f, i) {
    const p = f.properties;
    const el = document.createElement("figure");
    el.className = "wall-tile";
    el.dataset.cameraId = String(p.id);
    const img = document.createElement("img");
    img.alt = p.name || String(p.id);
    img.className = "wall-img";
    const video = document.createElement("video");
    video.muted = true;
    video.controls = true;
    video.hidden = true;
    video.className = "wall-video";
    const status = document.createElement("div");
    status.className = "wall-status";
    status.textContent = t("loading");
    const cap = document.createElement("figcaption");
    const dist = p.distance_m != null ? `${Math.round(p.distance_m)} m` : "";
    cap.textContent = `${i + 1}. ${p.name || p.id} · ${dist}`;
    el.append(img, video, status, cap);
    return { el, img, video, status, links: p.links || {}, id: p.id };
  }

  frameDrawn(x) {
    x.el.dataset.live = "drawn";
    x.status.hidden = true;
    if (!this.firstFrame) {
      this.firstFrame = true;
      this.onFirstFrame(x.id);
    }
  }

  fail(x, err) {
    x.el.dataset.live = "error";
    x.status.hidden = false;
    x.status.textContent = `${t("no_frame")}: ${err.message || err}`;
  }

  live(x) {
    x.video.hidden = true;
    x.video.removeAttribute("src");
    x.img.hidden = false;
    const url = x.links.live;
    if (!url) {
      this.fail(x, { message: t("no_frame") });
      return;
    }
    if (linkIsDirect(url)) {
      x.img.onload = () => this.frameDrawn(x);
      x.img.onerror = () => this.explain(x, url);
      x.img.src = url;
      return;
    }
    const ctl = new AbortController();
    this.controllers.push(ctl);
    streamMjpeg(url, x.img, ctl.signal, () => {
      if (x.el.dataset.live !== "drawn") this.frameDrawn(x);
    }).catch((e) => {
      if (e.name !== "AbortError") this.fail(x, e);
    });
  }

  /** An <img>/<video> that failed tells no reason: ask the same URL once for the API's message. */
  async explain(x, url) {
    try {
      const r = await api(url, { raw: true });
      if (r.body) r.body.cancel();
      this.fail(x, { message: t("no_frame") });
    } catch (e) {
      this.fail(x, e);
      if (this.onError) this.onError(e);
    }
  }

  timeControl(share) {
    const box = document.createElement("div");
    box.className = "wall-time";
    const w = share.window || {};
    if (!w.start || !w.end) return box;
    const s = new Date(w.start).getTime();
    const e = new Date(w.end).getTime();
    const label = document.createElement("span");
    label.textContent = `${t("window")}: ${fmtTime(w.start)} – ${fmtTime(w.end)}`;
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = String(Math.max(1, Math.round((e - s) / 1000)));
    slider.value = slider.max;
    slider.dataset.testid = "wall-slider";
    const at = document.createElement("output");
    const upd = () => {
      at.textContent = new Date(s + Number(slider.value) * 1000).toLocaleTimeString();
    };
    slider.addEventListener("input", upd);
    upd();
    const play = document.createElement("button");
    play.type = "button";
    play.textContent = t("play_at");
    play.addEventListener("click", () => this.recorded(new Date(s + Number(slider.value) * 1000), e));
    const live = document.createElement("button");
    live.type = "button";
    live.textContent = t("back_to_live");
    live.addEventListener("click", () => this.tiles.forEach((x) => this.live(x)));
    box.append(label, slider, at, play, live);
    return box;
  }

  /** Recorded playback from ``at``: a one-minute clip inside the share's window per camera. */
  recorded(at, windowEndMs) {
    this.controllers.forEach((c) => c.abort());
    this.controllers = [];
    const start = new Date(Math.min(at.getTime(), windowEndMs - 1000));
    const end = new Date(Math.min(start.getTime() + 60000, windowEndMs));
    this.tiles.forEach(async (x) => {
      x.img.removeAttribute("src");
      x.img.hidden = true;
      x.video.hidden = false;
      x.status.hidden = false;
      x.status.textContent = t("loading");
      if (!x.links.clip) {
        this.fail(x, { message: t("no_frame") });
        return;
      }
      const url = withParams(x.links.clip, { start: start.toISOString(), end: end.toISOString() });
      try {
        x.video.onloadeddata = () => {
          x.status.hidden = true;
        };
        // a refused <video> tells no reason: then ask the same URL once for the API's message
        x.video.onerror = () => this.explain(x, url);
        if (linkIsDirect(url)) {
          x.video.src = url;
        } else {
          const r = await mediaFetch(url);
          x.video.src = URL.createObjectURL(await r.blob());
        }
      } catch (err) {
        this.fail(x, err);
      }
    });
  }
}
