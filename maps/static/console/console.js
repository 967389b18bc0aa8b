// goldentime console: one page over the public API. Plain ES modules, no build step.
import { api, ApiError, login, logout, resume } from "./api.js";
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

const state = { config: null, map: null, wall: null, incidents: [], sightings: [], panel: null };

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
    await state.map.clusterPromise; // the view's clusters asked on moveend
    await new Promise((res) => {
      state.map.map.once("idle", res); // after the next frame, with every source loaded
      state.map.map.triggerRepaint();
    });
  };
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
    const r = await api(`/api/incidents/${incident.properties.id}/video-requests`, { method: "POST", json: {} , raw: true });
    const answer = await r.json();
    probe.marks.requestAnswer = performance.now();
    if (r.status === 202 || (answer.share && answer.share.status === "pending")) {
      showMessage(`${t("pending_approval")} (${answer.share ? "#" + answer.share.id : ""})`, "info");
      return;
    }
    showChosen(incident, answer);
    showMessage(`${t("share_granted")}: ${answer.case_number || ""} · ${t("expires")} ${fmt(answer.expires_at)}`, "info");
  } catch (e) {
    showError(e);
  } finally {
    btn.disabled = false;
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
          try {
            await api(`/api/video-requests/${q.id}/${verb}`, { method: "POST", json: { reason: why.value.trim() } });
            showMessage(`${t(verb)}: #${q.id}`, "info");
            loadPending();
          } catch (e) {
            showError(e);
          }
        };
        const beyond = (q.policy_reasons || q.beyond_policy || []).join("; ");
        return el(
          "li",
          { dataset: { shareId: String(q.id) } },
          el("span", { class: "case" }, q.case_number || `#${q.incident_id}`),
          el("span", { class: "grow" }, `${q.granted_to_user || q.granted_to_agency || ""} · ${q.reason || ""}`),
          beyond ? el("span", { class: "why" }, beyond) : null,
          why,
          el("button", { type: "button", class: "primary", onclick: decide("approve") }, t("approve")),
          el("button", { type: "button", onclick: decide("refuse") }, t("refuse")),
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
          el("button", { type: "button", onclick: open }, t("live")),
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
    showMessage(`${t("share_granted")}: #${s.id} · ${t("expires")} ${fmt(s.expires_at)}`, "info");
  } catch (e) {
    showError(e);
  }
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

// ---- planner ------------------------------------------------------------------------------
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
