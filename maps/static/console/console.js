// goldentime console: one page over the public API. Plain ES modules, no build step.
import { api, ApiError, linkIsDirect, login, logout, mediaFetch, resume } from "./api.js";
import { applyLabels, getLang, initialLang, setLang, t } from "./i18n.js";
import { ConsoleMap } from "./map.js";
import { VideoWall } from "./wall.js";

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e[k] = v;
  }
  e.append(...kids.filter((x) => x !== null && x !== undefined));
  return e;
};

// what a benchmark or a test may read (no secrets: timings and state only)
const probe = (window.__gt = { ready: false, marks: {} });

const state = {
  config: null,
  map: null,
  wall: null,
  incidents: [],
  sightings: [],
  panel: null,
  mask: { camera: null, points: [], masks: [] },
};

// ---- messages: a refused action shows the server's reason, never a blank panel ---------------
function showMessage(text, kind = "error") {
  const m = $("#message");
  m.textContent = text;
  m.className = kind;
  m.hidden = false;
  m.dataset.kind = kind;
}

function showError(e) {
  if (e && e.name === "AbortError") return;
  const reason = e instanceof ApiError ? e.message : String((e && e.message) || e);
  const prefix = e instanceof ApiError && e.status === 403 ? `${t("refused")}: ` : "";
  showMessage(e instanceof ApiError && e.status === 0 ? t("error_network") : prefix + reason, "error");
}

function clearMessage() {
  $("#message").hidden = true;
  $("#message").textContent = "";
}

function has(perm) {
  return !!state.config && state.config.permissions.includes(perm);
}

const fmt = (iso) => (iso ? new Date(iso).toLocaleString(getLang() === "ko" ? "ko-KR" : "en-GB") : "");

// ---- sign in / out -----------------------------------------------------------------------
async function onLogin(ev) {
  ev.preventDefault();
  probe.marks.loginSubmit = performance.now();
  clearMessage();
  const f = ev.target;
  try {
    await login(f.username.value.trim(), f.password.value);
    f.password.value = "";
    await start(await api("/api/config"));
  } catch (e) {
    showError(e);
  }
}

async function onLogout() {
  if (state.wall) state.wall.clear();
  await logout();
  window.location.reload();
}

async function start(config) {
  state.config = config;
  const u = config.user;
  $("#who-name").textContent = u.full_name || u.username;
  $("#who-role").dataset.i18n = "role_" + u.role;
  $("#who-role").textContent = t("role_" + u.role);
  $("#who-agency").textContent = u.agency || "-";
  $("#who").hidden = false;
  $("#logout").hidden = false;
  $("#search").hidden = false;
  $("#login").hidden = true;
  $("#app").hidden = false;
  buildTabs();
  state.map = new ConsoleMap($("#map"), config);
  state.wall = new VideoWall($("#wall"), {
    onError: showError,
    onFirstFrame: (id) => {
      probe.marks.firstFrame = performance.now();
      probe.firstFrameCamera = id;
    },
  });
  state.map.on("camera", (id, f) => onCamera(id, f));
  state.map.on("click", (ll) => onMapClick(ll));
  state.map.on("incident", (f) => selectIncident(f.properties.id));
  probe.marks.config = performance.now();
  const jobs = [state.map.loadCameras(showError).then((n) => (probe.cameras = n))];
  if (has("incident_read")) jobs.push(loadIncidents());
  if (has("video_request")) loadShares();
  await Promise.all(jobs).catch(showError);
  probe.marks.dataSet = performance.now();
  // the first paint of the whole registry: the map is idle with every camera source drawn
  state.map.map.once("idle", () => {
    probe.marks.mapIdle = performance.now();
    probe.painted = true;
    loadIncidentLayer();
  });
  state.map.map.triggerRepaint();
  // a jump (pan + zoom) that resolves when the map is idle again (benchmarks/console.py)
  probe.jump = async (lon, lat, zoom) => {
    state.map.map.jumpTo({ center: [lon, lat], zoom });
    await new Promise((res) => {
      // after the next frame, with every source loaded (the camera tiles of the new view too)
      state.map.map.once("idle", res);
      state.map.map.triggerRepaint();
    });
  };
  probe.renderedCameras = () => state.map.renderedCameras(); // the camera layer, as drawn
  probe.ready = true;
}

// ---- tabs: which panels a role has comes from the server's role table (/api/config) -------
const PANELS = [
  ["responder", "incident_read", "tab_responder"],
  ["operator", "centre", "tab_operator"],
  ["investigator", "trace", "tab_investigator"],
  ["planner", "planning", "tab_planner"],
  ["auditor", "audit_read", "tab_auditor"],
];

function buildTabs() {
  const nav = $("#tabs");
  nav.replaceChildren();
  const mine = PANELS.filter(([, perm]) => has(perm));
  for (const [name, , label] of mine) {
    nav.append(
      el("button", { type: "button", dataset: { tab: name, i18n: label }, onclick: () => showPanel(name) }, t(label)),
    );
  }
  // the first panel is the role's main job: responders' incidents, else their own desk
  const own = mine.find(([n]) => n !== "responder");
  const first = has("video_request") || !own ? mine[0] : own;
  showPanel(state.panel && mine.some(([n]) => n === state.panel) ? state.panel : first ? first[0] : null);
}

function showPanel(name) {
  state.panel = name;
  document.querySelectorAll(".panel").forEach((p) => (p.hidden = p.dataset.panel !== name));
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  $("#audit-table-wrap").hidden = name !== "auditor";
  if (name === "operator") {
    loadPending();
    loadAlerts();
  }
  if (name === "operator") loadStatus();
  if (name === "investigator") fillReachIncidents();
  if (name === "planner") loadCoverage();
  if (name === "auditor") loadAudit();
}

// ---- search and camera details -------------------------------------------------------------
async function onSearch(ev) {
  ev.preventDefault();
  const q = $("#search-q").value.trim();
  const ul = $("#search-results");
  ul.replaceChildren();
  if (!q) {
    ul.hidden = true;
    return;
  }
  try {
    const fc = await api(`/api/cameras?q=${encodeURIComponent(q)}&limit=30`);
    ul.append(
      ...fc.features.map((f) =>
        el(
          "li",
          {
            dataset: { cameraId: String(f.properties.id) },
            onclick: () => {
              ul.hidden = true;
              state.map.flyTo(...f.geometry.coordinates, 17);
              onCamera(f.properties.id, f);
            },
          },
          `${f.properties.name || f.properties.external_id || f.properties.id} · ${f.properties.address || ""}`,
        ),
      ),
    );
    if (!fc.features.length) ul.append(el("li", {}, t("no_results")));
    ul.hidden = false;
  } catch (e) {
    showError(e);
  }
}

async function onCamera(id) {
  if (state.panel === "investigator") addSighting(id);
  if (state.panel === "operator" && has("centre")) {
    $("#mask-form").camera_id.value = String(id);
    openMaskEditor(id);
  }
  try {
    const f = await api(`/api/cameras/${id}`);
    const p = f.properties;
    const dl = $("#camera-dl");
    const row = (k, v) => [el("dt", {}, t(k)), el("dd", {}, v == null || v === "" ? "-" : String(v))];
    dl.replaceChildren(
      ...row("name", p.name),
      ...row("address", p.address),
      ...row("purpose", p.purpose),
      ...row("direction", p.heading_deg == null ? t("direction_unknown") : `${Math.round(p.heading_deg)}°`),
      ...row("range_m", p.range_m),
      ...row("status", p.status),
      ...row("has_stream", p.has_stream ? t("yes") : t("no")),
      ...row("agency", p.agency),
      ...row("camera", `#${p.id} ${p.external_id || ""}`),
    );
    $("#camera-details").hidden = false;
    $("#camera-details").dataset.cameraId = String(p.id);
  } catch (e) {
    showError(e);
  }
}

// ---- responder: incidents, registration, the video request --------------------------------
async function loadIncidents() {
  const fc = await api("/api/incidents?status=open&limit=200");
  state.incidents = fc.features;
  renderIncidents();
  if (probe.painted) loadIncidentLayer();
}

/** All incidents (closed ones paler) as a map layer; after the registry's first paint. */
function loadIncidentLayer() {
  if (!has("incident_read")) return;
  api("/api/incidents?limit=10000")
    .then((all) => state.map.setIncidents(all))
    .catch(showError);
}

function renderIncidents() {
  const ul = $("#incident-list");
  ul.replaceChildren();
  if (!state.incidents.length) ul.append(el("li", { class: "hint" }, t("no_incidents")));
  for (const f of state.incidents) {
    const p = f.properties;
    const btn = el(
      "button",
      { type: "button", class: "video-request", dataset: { i18n: "video_request", incident: String(p.id) } },
      t("video_request"),
    );
    btn.addEventListener("click", (ev) => {
      ev.stopPropagation();
      requestVideo(f, btn);
    });
    ul.append(
      el(
        "li",
        { dataset: { incidentId: String(p.id) }, onclick: () => selectIncident(p.id) },
        el("span", { class: `prio prio-${p.priority}` }, String(p.priority)),
        el("span", { class: "case" }, p.case_number || `#${p.id}`),
        btn,
        el("span", { class: "grow" }, `${t("kind_" + p.kind)} · ${fmt(p.occurred_at)}`),
      ),
    );
  }
}

function selectIncident(id) {
  const f = state.incidents.find((x) => x.properties.id === id);
  document.querySelectorAll("#incident-list li").forEach((li) => li.classList.toggle("selected", li.dataset.incidentId === String(id)));
  if (f) state.map.flyTo(...f.geometry.coordinates, 16);
}

function onMapClick(ll) {
  if (state.panel !== "responder") return;
  const form = $("#incident-form");
  form.lat.value = ll.lat.toFixed(6);
  form.lon.value = ll.lng.toFixed(6);
  state.map.setPick(ll);
}

async function onRegister(ev) {
  ev.preventDefault();
  clearMessage();
  const f = ev.target;
  const lat = Number(f.lat.value);
  const lon = Number(f.lon.value);
  const body = { kind: f.kind.value, priority: Number(f.priority.value), lat, lon };
  if (f.case_number.value.trim()) body.case_number = f.case_number.value.trim();
  if (f.description.value.trim()) body.description = f.description.value.trim();
  try {
    const feat = await api("/api/incidents", { method: "POST", json: body });
    state.incidents = [feat, ...state.incidents.filter((x) => x.properties.id !== feat.properties.id)];
    renderIncidents();
    selectIncident(feat.properties.id);
    state.map.setPick(null);
    loadIncidentLayer();
    showMessage(`${t("registered")}: ${feat.properties.case_number || "#" + feat.properties.id}`, "info");
    f.reset();
  } catch (e) {
    showError(e);
  }
}

async function requestVideo(incident, btn) {
  clearMessage();
  probe.marks.requestClick = performance.now();
  probe.marks.firstFrame = null;
  btn.disabled = true;
  try {
    const r = await api(`/api/incidents/${incident.properties.id}/video-requests`, {
      method: "POST",
      json: requestOptions(incident),
      raw: true,
    });
    const answer = await r.json();
    probe.marks.requestAnswer = performance.now();
    if (r.status === 202 || (answer.share && answer.share.approval === "pending")) {
      const why = answer.decision && answer.decision.reasons ? answer.decision.reasons.join("; ") : "";
      showMessage(`${t("pending_approval")} (${answer.share ? "#" + answer.share.id : ""})${why ? ": " + why : ""}`, "info");
      loadShares();
      return;
    }
    loadShares();
    showChosen(incident, answer);
    showMessage(`${t("share_granted")}: ${answer.case_number || ""} · ${t("expires")} ${fmt(answer.expires_at)}`, "info");
  } catch (e) {
    showError(e);
  } finally {
    btn.disabled = false;
  }
}

/** The request's options (empty = the one-click defaults): a window from N hours before the
 * incident, a reason. The server's policy decides whether it needs an approval. */
function requestOptions(incident) {
  const f = $("#request-form");
  const body = {};
  const h = f.hours_before.value.trim();
  if (h) {
    const hours = Number(h);
    if (!Number.isFinite(hours) || hours <= 0) throw new Error(`${t("hours_before")}: ${h}`);
    const at = new Date(incident.properties.occurred_at || Date.now());
    body.start = new Date(at.getTime() - hours * 3600 * 1000).toISOString();
    body.end = new Date(Math.min(at.getTime(), Date.now())).toISOString(); // up to the incident
  }
  if (f.reason.value.trim()) body.reason = f.reason.value.trim();
  return body;
}

/** The shares granted to me (pending ones included), each openable on the wall when active. */
async function loadShares() {
  const ul = $("#share-list");
  try {
    const r = await api("/api/shares?limit=50");
    ul.replaceChildren(
      ...r.shares.map((sh) => {
        const open = async () => {
          clearMessage();
          try {
            const full = await api(`/api/shares/${sh.id}`);
            const feats = full.cameras.map((c) => ({
              type: "Feature",
              geometry: null,
              properties: { id: c.id, name: `#${c.id}`, links: c.links || {} },
            }));
            state.wall.show(feats, full);
          } catch (e) {
            showError(e);
          }
        };
        return el(
          "li",
          { dataset: { shareId: String(sh.id), status: sh.status } },
          el("span", { class: "case" }, sh.case_number || `#${sh.id}`),
          el("span", { class: `share-status st-${sh.status}` }, t("share_status_" + sh.status)),
          el("span", { class: "grow" }, `${t("expires")}: ${fmt(sh.expires_at)}`),
          sh.status === "active" ? el("button", { type: "button", class: "open-share", onclick: open }, t("open_share")) : null,
          sh.approval_reason ? el("span", { class: "why" }, `${t("reason")}: ${sh.approval_reason}`) : null,
          sh.policy_reasons && sh.policy_reasons.length ? el("span", { class: "why" }, sh.policy_reasons.join("; ")) : null,
        );
      }),
    );
    if (!r.shares.length) ul.append(el("li", { class: "hint" }, t("no_results")));
  } catch (e) {
    showError(e);
  }
}

function showChosen(incident, fc) {
  const share = fc.share || { id: fc.share_id, expires_at: fc.expires_at, window: fc.window, case_number: fc.case_number };
  // the wall first: the golden time is to the first live frame
  state.wall.show(fc.features, share);
  const ol = $("#chosen-list");
  ol.replaceChildren(
    ...fc.features.map((f) => {
      const p = f.properties;
      return el(
        "li",
        { dataset: { cameraId: String(p.id) }, onclick: () => onCamera(p.id) },
        `${p.name || p.id} · ${Math.round(p.distance_m)} m`,
        el("span", { class: "why" }, `${t("reason")}: ${p.reason || "-"}`),
      );
    }),
  );
  $("#chosen-share").textContent = `${share.case_number || ""} · ${t("expires")}: ${fmt(share.expires_at)}`;
  $("#chosen").hidden = false;
  state.map.showChosen(incident, fc);
}

// ---- operator: the approval queue, alerts and pushes ----------------------------------------
async function loadPending() {
  const ul = $("#pending-list");
  try {
    const r = await api("/api/video-requests?status=pending");
    ul.replaceChildren(
      ...r.requests.map((q) => {
        const why = el("input", { placeholder: t("reason"), required: true, maxLength: 1000 });
        const decide = (verb) => async () => {
          clearMessage();
          if (!why.value.trim()) {
            showMessage(t("approve_reason_needed"), "error");
            why.focus();
            return;
          }
          try {
            await api(`/api/video-requests/${q.id}/${verb}`, { method: "POST", json: { reason: why.value.trim() } });
            showMessage(`${t(verb + "_past")}: #${q.id} · ${q.case_number || ""}`, "info");
            loadPending();
          } catch (e) {
            showError(e);
          }
        };
        const beyond = (q.policy_reasons || q.beyond_policy || []).join("; ");
        why.className = "decision-reason";
        return el(
          "li",
          { dataset: { shareId: String(q.id) } },
          el("span", { class: "case" }, q.case_number || `#${q.incident_id}`),
          el("span", { class: "grow" }, `${q.granted_to_user || q.granted_to_agency || ""} · ${q.reason || ""}`),
          beyond ? el("span", { class: "why" }, beyond) : null,
          why,
          el("button", { type: "button", class: "primary approve", onclick: decide("approve") }, t("approve")),
          el("button", { type: "button", class: "refuse", onclick: decide("refuse") }, t("refuse")),
        );
      }),
    );
    if (!r.requests.length) ul.append(el("li", { class: "hint" }, t("no_results")));
  } catch (e) {
    showError(e);
  }
}


async function loadAlerts() {
  const ul = $("#alert-list");
  try {
    const a = await api("/api/alerts?limit=50");
    const items = a.alerts || a.features || [];
    ul.replaceChildren(
      ...items.map((x) => {
        const p = x.properties || x;
        const open = () => {
          const cam = { type: "Feature", geometry: { type: "Point", coordinates: [p.lon, p.lat] }, properties: { id: p.camera_id, name: p.camera_name, links: p.links || {} } };
          state.wall.show([cam], { case_number: p.case_number || "", expires_at: null, window: {} });
          state.map.flyTo(p.lon, p.lat, 17);
        };
        return el(
          "li",
          { dataset: { cameraId: String(p.camera_id) } },
          el("span", { class: "grow" }, `${p.camera_name || "#" + p.camera_id} · ${fmt(p.at)}`),
          el("button", { type: "button", class: "alert-live", onclick: open }, t("live")),
          el("span", { class: "why" }, p.why || p.reason || ""),
        );
      }),
    );
    if (!items.length) ul.append(el("li", { class: "hint" }, t("no_results")));
  } catch (e) {
    showError(e);
  }
}

async function onPush(ev) {
  ev.preventDefault();
  clearMessage();
  const f = ev.target;
  const body = { reason: f.reason.value.trim() };
  if (f.to_user.value.trim()) body.to_user = f.to_user.value.trim();
  if (f.to_agency.value.trim()) body.to_agency = f.to_agency.value.trim();
  try {
    const s = await api(`/api/incidents/${encodeURIComponent(f.incident_id.value.trim())}/shares`, { method: "POST", json: body });
    const to = s.granted_to_user || s.granted_to_agency || "";
    showMessage(`${t("pushed")}: #${s.id} → ${to} · ${t("expires")} ${fmt(s.expires_at)}`, "info");
  } catch (e) {
    showError(e);
  }
}

// ---- operator: camera status (the recorders) ------------------------------------------------
const STATUS_COLS = ["camera_id", "state", "attempts", "last_frame", "last_error", "archive"];

async function loadStatus() {
  const thead = $("#status-table thead");
  const tbody = $("#status-table tbody");
  try {
    const r = await api("/api/video/status");
    thead.replaceChildren(el("tr", {}, ...STATUS_COLS.map((c) => el("th", { dataset: { i18n: c } }, t(c)))));
    tbody.replaceChildren(
      ...r.cameras.map((c) =>
        el(
          "tr",
          { class: `rec-${c.state}`, dataset: { cameraId: String(c.camera_id), state: c.state } },
          el("td", {}, `#${c.camera_id}`),
          el("td", {}, t("rec_" + c.state)),
          el("td", {}, String(c.attempts ?? "")),
          el("td", {}, fmt(c.last_frame_at) || "-"),
          el("td", {}, c.last_error || ""),
          el("td", {}, c.archive ? `${fmt(c.archive.start)} – ${fmt(c.archive.end)}` : "-"),
        ),
      ),
    );
    if (!r.cameras.length) tbody.append(el("tr", {}, el("td", { colSpan: STATUS_COLS.length, class: "hint" }, t("no_results"))));
  } catch (e) {
    showError(e);
  }
}

// ---- operator: privacy masks drawn on a camera's snapshot -----------------------------------
const SVG = "http://www.w3.org/2000/svg";

async function openMaskEditor(id) {
  clearMessage();
  const m = state.mask;
  m.camera = id;
  m.points = [];
  const img = $("#mask-img");
  try {
    const got = await api(`/api/cameras/${id}/masks`);
    m.masks = got.masks.map((x) => ({ points: x.points, label: x.label }));
    $("#mask-editor").hidden = false;
    $("#mask-editor").dataset.cameraId = String(id);
    img.onload = () => drawMasks();
    img.onerror = () => explainMedia(img.dataset.url);
    const url = `/api/cameras/${id}/snapshot.jpg`;
    img.dataset.url = url;
    if (linkIsDirect(url)) img.src = url;
    else img.src = URL.createObjectURL(await (await mediaFetch(url)).blob());
    drawMasks();
  } catch (e) {
    $("#mask-editor").hidden = true;
    showError(e);
  }
}

/** An <img> that failed tells no reason: ask the same URL once for the API's message. */
async function explainMedia(url) {
  try {
    const r = await api(url, { raw: true });
    if (r.body) r.body.cancel();
    showMessage(t("no_frame"), "error");
  } catch (e) {
    showError(e);
  }
}

function polygon(points, cls) {
  const p = document.createElementNS(SVG, points.length > 2 ? "polygon" : "polyline");
  p.setAttribute("points", points.map(([x, y]) => `${x},${y}`).join(" "));
  p.setAttribute("class", cls);
  return p;
}

function drawMasks() {
  const m = state.mask;
  const img = $("#mask-img");
  const svg = $("#mask-svg");
  const w = img.naturalWidth || 480;
  const h = img.naturalHeight || 360;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const kids = m.masks.map((x) => polygon(x.points, "mask-saved"));
  if (m.points.length) {
    kids.push(polygon(m.points, "mask-new"));
    for (const [x, y] of m.points) {
      const c = document.createElementNS(SVG, "circle");
      c.setAttribute("cx", x);
      c.setAttribute("cy", y);
      c.setAttribute("r", Math.max(3, w / 120));
      c.setAttribute("class", "mask-vertex");
      kids.push(c);
    }
  }
  svg.replaceChildren(...kids);
  $("#mask-points").textContent = `${m.points.length} ${t("mask_points")}`;
  $("#mask-list").replaceChildren(
    ...m.masks.map((x, i) =>
      el(
        "li",
        { dataset: { mask: String(i) } },
        el("span", { class: "grow" }, `${x.label || "-"} · ${x.points.length} ${t("mask_points")}`),
        el("button", { type: "button", onclick: () => saveMasks(m.masks.filter((_y, j) => j !== i)) }, t("delete")),
      ),
    ),
  );
}

function onMaskClick(ev) {
  const img = $("#mask-img");
  const r = $("#mask-svg").getBoundingClientRect();
  if (!img.naturalWidth || !r.width) return;
  const x = Math.round(((ev.clientX - r.left) / r.width) * img.naturalWidth);
  const y = Math.round(((ev.clientY - r.top) / r.height) * img.naturalHeight);
  state.mask.points.push([x, y]);
  drawMasks();
}

async function saveMasks(masks) {
  clearMessage();
  const id = state.mask.camera;
  try {
    const body = { masks: masks.map((x) => (x.label ? { points: x.points, label: x.label } : { points: x.points })) };
    const r = await api(`/api/cameras/${id}/masks`, { method: "PUT", json: body });
    state.mask.masks = r.masks.map((x) => ({ points: x.points, label: x.label }));
    state.mask.points = [];
    drawMasks();
    showMessage(`${t("mask_saved")}: ${t("camera")} #${id} (${r.masks.length})`, "info");
  } catch (e) {
    showError(e);
  }
}

function onMaskSave() {
  const m = state.mask;
  if (m.points.length < 3) {
    showMessage(t("mask_need_points"), "error");
    return;
  }
  const label = $("#mask-label").value.trim();
  saveMasks([...m.masks, { points: m.points, label: label || null }]);
}

// ---- investigator: sightings -> track -------------------------------------------------------
function addSighting(id) {
  const now = new Date(Date.now() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  state.sightings.push({ camera_id: id, seen_at: now });
  renderSightings();
}

function renderSightings() {
  const ol = $("#sighting-list");
  ol.replaceChildren(
    ...state.sightings.map((s, i) => {
      const input = el("input", { type: "datetime-local", value: s.seen_at, step: "1" });
      input.addEventListener("change", () => (state.sightings[i].seen_at = input.value));
      return el("li", { dataset: { cameraId: String(s.camera_id) } }, `${t("camera")} #${s.camera_id} `, input);
    }),
  );
}

async function onTrack(ev) {
  ev.preventDefault();
  clearMessage();
  const f = ev.target;
  const body = {
    mode: f.mode.value,
    sightings: state.sightings.map((s) => ({ camera_id: s.camera_id, seen_at: new Date(s.seen_at).toISOString() })),
  };
  if (f.case_number.value.trim()) body.case_number = f.case_number.value.trim();
  if (f.reason.value.trim()) body.reason = f.reason.value.trim();
  const out = $("#track-result");
  try {
    const fc = await api("/api/tracks", { method: "POST", json: body });
    const between = (fc.hops || []).flatMap((h) =>
      (h.cameras_between || []).map((c) => ({
        type: "Feature",
        geometry: { type: "Point", coordinates: [c.lon, c.lat] },
        properties: { color: "#0ea5e9", camera_id: c.camera_id },
      })),
    );
    state.map.setMarks({
      type: "FeatureCollection",
      features: [...fc.features.filter((x) => x.properties.kind === "trajectory"), ...between],
    });
    const verdict = el(
      "p",
      { class: fc.feasible ? "ok" : "bad", dataset: { testid: "track-verdict" } },
      `${t("verdict")}: ${fc.feasible ? t("feasible") : t("infeasible")}`,
    );
    const km = (m) => (m >= 1000 ? `${(m / 1000).toFixed(2)} km` : `${Math.round(m)} m`);
    const hops = (fc.hops || []).map((h) =>
      el(
        "li",
        { class: h.feasible ? "" : "bad" },
        `#${h.from_camera_id} → #${h.to_camera_id} · ${km(h.length_m)} · ${Math.round(h.elapsed_s / 60)} ${t("minutes")}` +
          ` · ${h.required_speed_kph} km/h${h.reason ? " · " + h.reason : ""}`,
        ...(h.cameras_between || []).map((c) =>
          el(
            "span",
            { class: "why", dataset: { cameraId: String(c.camera_id) } },
            `${t("camera")} #${c.camera_id} · ${t("review_minutes")} ${(c.review_s / 60).toFixed(1)} · ${fmt(c.expected_from)}`,
          ),
        ),
      ),
    );
    out.replaceChildren(verdict, el("ol", { class: "list" }, ...hops));
  } catch (e) {
    out.replaceChildren();
    showError(e);
  }
}

// ---- investigator: the reachable area from an incident --------------------------------------
function fillReachIncidents() {
  const sel = $("#reach-form").incident;
  const keep = sel.value;
  sel.replaceChildren(
    ...state.incidents.map((f) =>
      el("option", { value: String(f.properties.id) }, `${f.properties.case_number || "#" + f.properties.id} · ${t("kind_" + f.properties.kind)}`),
    ),
  );
  if (keep) sel.value = keep;
}

async function onReach(ev) {
  ev.preventDefault();
  clearMessage();
  const f = ev.target;
  const out = $("#reach-result");
  const inc = state.incidents.find((x) => String(x.properties.id) === f.incident.value);
  if (!inc) {
    showMessage(`${t("incident")}: ${t("no_results")}`, "error");
    return;
  }
  const [lon, lat] = inc.geometry.coordinates;
  const body = { lat, lon, mode: f.mode.value, max_minutes: Number(f.minutes.value) };
  if (inc.properties.occurred_at) body.at = inc.properties.occurred_at;
  // case number and reason are the server's to demand (audited); sent as typed
  body.case_number = f.case_number.value.trim() || inc.properties.case_number || "";
  body.reason = f.reason.value.trim();
  try {
    const fc = await api("/api/reachable", { method: "POST", json: body });
    const iso = fc.features.filter((x) => x.properties.kind === "isochrone");
    iso.sort((a, b) => b.properties.minutes - a.properties.minutes);
    const cams = fc.features.filter((x) => x.properties.kind === "camera");
    const drawn = { type: "FeatureCollection", features: [...iso, ...cams] };
    state.map.setOverlay("reach", drawn);
    state.map.fitFeatures(drawn);
    state.map.setPick({ lng: lon, lat });
    out.replaceChildren(
      el(
        "p",
        { dataset: { testid: "reach-summary" } },
        `${t("reachable")}: ${body.max_minutes} ${t("minutes")} · ${iso.length} ${t("isochrones")} (` +
          iso.map((x) => x.properties.minutes).reverse().join(", ") +
          `) · ${t("reachable_cameras")}: ${cams.length}`,
      ),
      el(
        "ol",
        { class: "list", dataset: { testid: "reach-cameras" } },
        ...cams.slice(0, 50).map((c) => {
          const p = c.properties;
          const arr = p.earliest_arrival_s;
          return el(
            "li",
            { dataset: { cameraId: String(p.camera_id ?? p.id) } },
            `${t("camera")} #${p.camera_id ?? p.id}${p.name ? " " + p.name : ""}` +
              (arr != null ? ` · ${(arr / 60).toFixed(1)} ${t("minutes")}` : ""),
          );
        }),
      ),
    );
  } catch (e) {
    out.replaceChildren();
    showError(e);
  }
}

// ---- planner ------------------------------------------------------------------------------
async function onGaps(ev) {
  ev.preventDefault();
  clearMessage();
  const f = ev.target;
  const out = $("#gaps-result");
  const q = new URLSearchParams({ bbox: state.map.bboxString(5) });
  if (f.cell_size_m.value.trim()) q.set("cell_size_m", f.cell_size_m.value.trim());
  try {
    const fc = await api(`/api/coverage/gaps?${q}`);
    state.map.setOverlay("gaps", fc);
    const total = fc.features.reduce((a, x) => a + (x.properties.gap_score || 0), 0);
    const worst = fc.features.slice(0, 5);
    out.replaceChildren(
      el(
        "p",
        { dataset: { testid: "gaps-summary" } },
        `${fc.features.length} ${t("gap_cells")} · ${Math.round(fc.cell_edge_m)} m · ${t("uncovered_incidents")}: ${total}`,
      ),
      el(
        "ol",
        { class: "list", dataset: { testid: "gaps-worst" } },
        ...worst.map((x) =>
          el("li", { dataset: { h3: String(x.id) } }, `${x.id} · ${t("gap_score")} ${x.properties.gap_score} / ${x.properties.incidents}`),
        ),
      ),
    );
  } catch (e) {
    out.replaceChildren();
    showError(e);
  }
}

async function loadCoverage() {
  const dl = $("#coverage-summary");
  try {
    const s = await api("/api/coverage/summary");
    // the summary's headline figures: numbers up to two levels deep (cameras.count, roads.covered_share ...)
    const rows = [];
    for (const [k, v] of Object.entries(s)) {
      if (typeof v === "number") rows.push([k, v]);
      else if (v && typeof v === "object" && !Array.isArray(v))
        for (const [k2, v2] of Object.entries(v)) if (typeof v2 === "number") rows.push([`${k}.${k2}`, v2]);
    }
    const show = (k, v) => (k.endsWith("share") ? `${(v * 100).toFixed(1)} %` : v.toLocaleString());
    dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, show(k, v))]));
  } catch (e) {
    showError(e);
  }
}

async function onSiting(ev) {
  ev.preventDefault();
  clearMessage();
  const f = ev.target;
  const out = $("#siting-result");
  try {
    const fc = await api("/api/siting", { method: "POST", json: { k: Number(f.k.value), radius_m: Number(f.radius_m.value), method: "greedy" } });
    state.map.setMarks({ type: "FeatureCollection", features: fc.features.map((x) => ({ ...x, properties: { ...x.properties, color: "#f59e0b" } })) });
    const pct = (o) => (o && typeof o.share === "number" ? `${(o.share * 100).toFixed(1)} %` : "-");
    const before = fc.coverage_before;
    const after = fc.coverage_after;
    out.replaceChildren(
      el("p", {}, `${t("proposed_sites")}: ${fc.features.length} · ${t("before")} ${pct(before)} → ${t("after")} ${pct(after)}`),
      el(
        "ol",
        { class: "list", dataset: { testid: "sites" } },
        ...fc.features.map((x) => el("li", {}, `${x.geometry.coordinates[1].toFixed(5)}, ${x.geometry.coordinates[0].toFixed(5)} · +${x.properties.marginal_gain ?? ""}`)),
      ),
    );
    if (fc.features.length) state.map.flyTo(...fc.features[0].geometry.coordinates, 13);
  } catch (e) {
    out.replaceChildren();
    showError(e);
  }
}

// ---- auditor ------------------------------------------------------------------------------
const AUDIT_COLS = ["at", "username", "action", "client_ip", "case_number", "camera_ids", "reason"];

function auditQuery() {
  const f = $("#audit-form");
  const q = new URLSearchParams({ limit: "200" });
  for (const k of ["user", "action", "case_number"]) if (f[k].value.trim()) q.set(k, f[k].value.trim());
  return q;
}

async function loadAudit(ev) {
  if (ev) ev.preventDefault();
  try {
    const r = await api(`/api/audit?${auditQuery()}`);
    const thead = $("#audit-table thead");
    const tbody = $("#audit-table tbody");
    thead.replaceChildren(el("tr", {}, ...AUDIT_COLS.map((c) => el("th", {}, c))));
    tbody.replaceChildren(
      ...r.records.map((rec) =>
        el(
          "tr",
          { dataset: { action: rec.action || "" } },
          ...AUDIT_COLS.map((c) => {
            const v = rec[c];
            return el("td", {}, v == null ? "" : Array.isArray(v) ? v.join(" ") : c === "at" ? fmt(v) : String(v));
          }),
        ),
      ),
    );
    $("#audit-total").textContent = `${r.total} ${t("records")}`;
  } catch (e) {
    showError(e);
  }
}

async function onAuditCsv() {
  try {
    const q = auditQuery();
    q.set("format", "csv");
    q.set("limit", "100000");
    const r = await api(`/api/audit?${q}`, { raw: true });
    const a = el("a", { href: URL.createObjectURL(await r.blob()), download: "goldentime-audit.csv" });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    showError(e);
  }
}

async function onAuditVerify() {
  const p = $("#audit-verify-result");
  try {
    const v = await api("/api/audit/verify");
    p.className = v.ok ? "ok" : "bad";
    p.textContent = `${v.ok ? t("chain_ok") : t("chain_broken")} · ${v.checked ?? ""} ${t("records")}${v.problem ? " · " + v.problem : ""}`;
  } catch (e) {
    p.textContent = "";
    showError(e);
  }
}

// ---- boot ---------------------------------------------------------------------------------
async function boot() {
  setLang(initialLang());
  applyLabels(document);
  $("#lang").addEventListener("click", () => {
    setLang(getLang() === "ko" ? "en" : "ko");
    if (state.config) {
      renderIncidents();
      buildTabs();
    }
  });
  $("#login-form").addEventListener("submit", onLogin);
  $("#logout").addEventListener("click", onLogout);
  $("#search").addEventListener("submit", onSearch);
  $("#incident-form").addEventListener("submit", onRegister);
  $("#incidents-refresh").addEventListener("click", () => loadIncidents().catch(showError));
  $("#alerts-refresh").addEventListener("click", () => {
    loadPending();
    loadAlerts();
  });
  $("#push-form").addEventListener("submit", onPush);
  $("#shares-refresh").addEventListener("click", loadShares);
  $("#status-refresh").addEventListener("click", loadStatus);
  $("#mask-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = Number(ev.target.camera_id.value.trim());
    if (!Number.isInteger(id) || id < 1) {
      showMessage(`${t("camera_id")}: ${ev.target.camera_id.value}`, "error");
      return;
    }
    openMaskEditor(id);
  });
  $("#mask-svg").addEventListener("click", onMaskClick);
  $("#mask-undo").addEventListener("click", () => {
    state.mask.points.pop();
    drawMasks();
  });
  $("#mask-clear").addEventListener("click", () => {
    state.mask.points = [];
    drawMasks();
  });
  $("#mask-save").addEventListener("click", onMaskSave);
  $("#reach-form").addEventListener("submit", onReach);
  $("#gaps-form").addEventListener("submit", onGaps);
  $("#gaps-clear").addEventListener("click", () => {
    state.map.setOverlay("gaps", null);
    $("#gaps-result").replaceChildren();
  });
  $("#track-form").addEventListener("submit", onTrack);
  $("#track-clear").addEventListener("click", () => {
    state.sightings = [];
    renderSightings();
    state.map.setMarks(null);
    $("#track-result").replaceChildren();
  });
  $("#coverage-refresh").addEventListener("click", loadCoverage);
  $("#siting-form").addEventListener("submit", onSiting);
  $("#audit-form").addEventListener("submit", loadAudit);
  $("#audit-csv").addEventListener("click", onAuditCsv);
  $("#audit-verify").addEventListener("click", onAuditVerify);
  probe.booted = true;
  const resumed = await resume();
  if (resumed) await start(resumed);
}

boot().catch(showError);
