// The console's only way to the server: the public API, with one of two sign-ins.
//  * cookie session (POST /api/auth/session): an HttpOnly SameSite=Strict cookie the script never
//    sees, plus a readable gt_csrf cookie echoed as X-CSRF-Token on every non-GET request;
//  * fallback when the server has no session route: the bearer token of POST /api/auth/token,
//    kept in this module's memory only (never localStorage, never a URL), sent as a header.

const auth = { mode: null, token: null };

export class ApiError extends Error {
  constructor(status, detail) {
    const d = detail && typeof detail === "object" ? detail : { message: String(detail || "") };
    super(d.message || `HTTP ${status}`);
    this.status = status;
    this.field = d.field || null;
    this.detail = d;
  }
}

function cookie(name) {
  const m = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return m ? decodeURIComponent(m.slice(name.length + 1)) : null;
}

function headersFor(method, extra) {
  const h = new Headers(extra || {});
  if (auth.mode === "bearer" && auth.token) h.set("Authorization", "Bearer " + auth.token);
  if (method !== "GET" && method !== "HEAD") {
    const csrf = cookie("gt_csrf");
    if (csrf) h.set("X-CSRF-Token", csrf);
  }
  return h;
}

async function errorOf(r) {
  let body = null;
  try {
    body = await r.json();
  } catch (_e) {
    body = null;
  }
  const detail = body && body.detail !== undefined ? body.detail : body;
  if (typeof detail === "string") return new ApiError(r.status, { message: detail });
  if (Array.isArray(detail)) return new ApiError(r.status, { message: JSON.stringify(detail) });
  return new ApiError(r.status, detail || { message: `${r.status} ${r.statusText}` });
}

/** fetch() against the API; answers parsed JSON (or the Response with raw=true). */
export async function api(path, { method = "GET", json, form, headers, raw = false, signal } = {}) {
  let body;
  const h = headersFor(method, headers);
  if (json !== undefined) {
    body = JSON.stringify(json);
    h.set("Content-Type", "application/json");
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  let r;
  try {
    r = await fetch(path, { method, body, headers: h, credentials: "same-origin", signal });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, { message: "network: " + e });
  }
  if (!r.ok) throw await errorOf(r);
  if (raw) return r;
  if (r.status === 204) return null;
  const ct = r.headers.get("content-type") || "";
  return ct.includes("json") ? r.json() : r.text();
}

/** Sign in: the cookie session when the server has it, else the in-memory bearer token. */
export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  let r = await fetch("/api/auth/session", { method: "POST", body: form, credentials: "same-origin" });
  if (r.status === 404 || r.status === 405) {
    r = await fetch("/api/auth/token", { method: "POST", body: form, credentials: "same-origin" });
    if (!r.ok) throw await errorOf(r);
    const j = await r.json();
    auth.mode = "bearer";
    auth.token = j.access_token;
    return j.user;
  }
  if (!r.ok) throw await errorOf(r);
  auth.mode = "cookie";
  auth.token = null;
  const j = await r.json().catch(() => ({}));
  return j.user || j;
}

/** A session that survived a page reload (cookie mode): the config, or null. */
export async function resume() {
  // only when a session may exist (its readable CSRF cookie): an anonymous probe would be a
  // refused request, and every refusal is audited
  if (!cookie("gt_csrf")) return null;
  try {
    auth.mode = "cookie";
    return await api("/api/config");
  } catch (_e) {
    auth.mode = null;
    return null;
  }
}

export async function logout() {
  if (auth.mode === "cookie") {
    try {
      await api("/api/auth/session", { method: "DELETE" });
    } catch (_e) {
      /* already gone */
    }
  }
  auth.mode = null;
  auth.token = null;
}

export function authMode() {
  return auth.mode;
}

/**
 * Whether a media link from the API can go straight into <img src>/<video src>: in cookie mode
 * the browser sends the session cookie itself; a short-lived media link (?mt=) carries its own
 * right. Only the bearer fallback without mt needs the header (see mediaFetch).
 */
export function linkIsDirect(url) {
  return auth.mode === "cookie" || /[?&]mt=/.test(url);
}

/** GET a media URL with the bearer header (fallback mode only). */
export async function mediaFetch(url, signal) {
  return api(url, { raw: true, signal });
}
