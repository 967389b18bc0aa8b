// The one map: base layer drawn from PostGIS roads and buildings (optional raster tiles), every
// camera of the registry as vector tiles (clusters far out, points coloured by purpose close in,
// field-of-view cones at high zoom, a white ring where the direction is unknown), incidents, and
// the cameras chosen for a video request with their distance lines.
import { api } from "./api.js";

/* global maplibregl */

export const PURPOSE_COLORS = {
  crime_prevention: "#d7301f",
  child_protection: "#f0a500",
  traffic: "#2b6cb0",
  disaster: "#7b3294",
  other: "#6b7280",
};
const purposeColor = [
  "match",
  ["get", "purpose"],
  ...Object.entries(PURPOSE_COLORS).flat(),
  PURPOSE_COLORS.other,
];
const EMPTY = { type: "FeatureCollection", features: [] };
const BASEMAP_MIN_ZOOM = 14;
const VIEWS_MIN_ZOOM = 15.5;
const CAMERA_TILES_MAX_ZOOM = 16; // the TileJSON's maxzoom (/ogc/collections/cameras/tiles)

export class ConsoleMap {
  constructor(container, config) {
    maplibregl.setWorkerUrl("/static/vendor/maplibre/maplibre-gl-csp-worker.js");
    const sources = {};
    const layers = [{ id: "bg", type: "background", paint: { "background-color": "#e2e0d8" } }];
    if (config.tile_url) {
      sources.tiles = {
        type: "raster",
        tiles: [config.tile_url],
        tileSize: 256,
        attribution: config.tile_attribution || "",
      };
      layers.push({ id: "tiles", type: "raster", source: "tiles" });
    }
    this.map = new maplibregl.Map({
      container,
      style: { version: 8, sources, layers },
      center: [127.35, 36.35],
      zoom: 11,
      attributionControl: config.tile_url ? {} : false,
      fadeDuration: 0,
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    this.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    this.handlers = { camera: [], click: [], incident: [] };
    this.loaded = new Promise((res) => this.map.on("load", res));
    // the video wall and the audit table share the stage: keep the canvas the size of its box
    new ResizeObserver(() => this.map.resize()).observe(container);
    this.loaded.then(() => this.addLayers());
    this.basemapKey = null;
    this.viewsKey = null;
  }

  on(kind, fn) {
    this.handlers[kind].push(fn);
  }

  addLayers() {
    const m = this.map;
    m.addSource("basemap", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "buildings",
      type: "fill",
      source: "basemap",
      filter: ["==", ["get", "layer"], "building"],
      paint: { "fill-color": "#cbc6ba", "fill-outline-color": "#aaa498" },
    });
    m.addLayer({
      id: "roads",
      type: "line",
      source: "basemap",
      filter: ["==", ["get", "layer"], "road"],
      paint: {
        "line-color": "#ffffff",
        "line-width": [
          "match",
          ["get", "kind"],
          ["motorway", "trunk", "primary"],
          6,
          ["secondary", "tertiary"],
          4,
          2,
        ],
      },
    });
    m.addSource("views", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "views-fill",
      type: "fill",
      source: "views",
      paint: { "fill-color": purposeColor, "fill-opacity": 0.12 },
    });
    m.addLayer({
      id: "views-line",
      type: "line",
      source: "views",
      filter: ["==", ["get", "direction_known"], true],
      paint: { "line-color": purposeColor, "line-width": 1 },
    });
    // unknown direction: the whole circle of the default range, dashed (nothing claimed in view)
    m.addLayer({
      id: "views-line-unknown",
      type: "line",
      source: "views",
      filter: ["!=", ["get", "direction_known"], true],
      paint: { "line-color": purposeColor, "line-width": 1.5, "line-dasharray": [2, 2] },
    });
    // the planner's gap grid (H3 cells, redder where more incidents are uncovered)
    m.addSource("gaps", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "gaps-fill",
      type: "fill",
      source: "gaps",
      paint: {
        "fill-color": ["interpolate", ["linear"], ["coalesce", ["get", "gap_score"], 0], 0, "#fde68a", 5, "#f97316", 20, "#b91c1c"],
        "fill-opacity": 0.45,
      },
    });
    m.addLayer({ id: "gaps-line", type: "line", source: "gaps", paint: { "line-color": "#92400e", "line-width": 0.5 } });
    // the investigator's reachable area: isochrones (largest first, so the smaller draw on top)
    m.addSource("reach", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "reach-fill",
      type: "fill",
      source: "reach",
      filter: ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]],
      paint: {
        "fill-color": ["interpolate", ["linear"], ["coalesce", ["get", "minutes"], 0], 1, "#1d4ed8", 10, "#93c5fd"],
        "fill-opacity": 0.25,
      },
    });
    m.addLayer({
      id: "reach-line",
      type: "line",
      source: "reach",
      filter: ["!=", ["geometry-type"], "Point"],
      paint: { "line-color": "#1e3a8a", "line-width": 1.5 },
    });
    m.addLayer({
      id: "reach-cams",
      type: "circle",
      source: "reach",
      filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": 5, "circle-color": "#1d4ed8", "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 },
    });
    m.addSource("incidents", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "incidents",
      type: "circle",
      source: "incidents",
      paint: {
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 2, 16, 5],
        "circle-color": ["case", ["==", ["get", "status"], "open"], "#111827", "#9ca3af"],
        "circle-opacity": ["case", ["==", ["get", "status"], "open"], 0.9, 0.35],
      },
    });
    // the registry as vector tiles (GET /ogc/collections/cameras/tiles/{z}/{x}/{y}, sent with
    // the session cookie): below zoom 14 one point per grid cell with a `count` (count > 1 is a
    // cluster), from 14 on single cameras; MapLibre overzooms the z16 tiles
    m.addSource("cameras", {
      type: "vector",
      tiles: [`${location.origin}/ogc/collections/cameras/tiles/{z}/{x}/{y}`],
      minzoom: 0,
      maxzoom: CAMERA_TILES_MAX_ZOOM,
    });
    const count = ["coalesce", ["get", "count"], 1];
    const dk = ["any", ["has", "heading_deg"], ["==", ["get", "direction_known"], true]];
    m.addLayer({
      id: "clusters",
      type: "circle",
      source: "cameras",
      "source-layer": "cameras",
      filter: [">", count, 1],
      paint: {
        "circle-color": "#1f4e79",
        "circle-opacity": 0.75,
        "circle-stroke-color": "#fff",
        "circle-stroke-width": 1,
        "circle-radius": ["step", count, 6, 10, 10, 100, 15, 1000, 21, 10000, 27],
      },
    });
    m.addLayer({
      id: "camera-points",
      type: "circle",
      source: "cameras",
      "source-layer": "cameras",
      filter: ["==", count, 1],
      paint: {
        "circle-color": purposeColor,
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 3, 17, 6],
        "circle-stroke-color": ["case", dk, "#1f2937", "#ffffff"],
        "circle-stroke-width": ["case", dk, 1, 2],
      },
    });
    m.addSource("chosen-lines", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "chosen-lines",
      type: "line",
      source: "chosen-lines",
      paint: { "line-color": "#0f766e", "line-width": 2, "line-dasharray": [2, 1] },
    });
    m.addSource("chosen", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "chosen",
      type: "circle",
      source: "chosen",
      paint: {
        "circle-radius": 9,
        "circle-color": "#14b8a6",
        "circle-stroke-color": "#064e3b",
        "circle-stroke-width": 2,
      },
    });
    m.addSource("marks", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "marks-line",
      type: "line",
      source: "marks",
      filter: ["in", ["geometry-type"], ["literal", ["LineString", "MultiLineString"]]],
      paint: { "line-color": "#be185d", "line-width": 4 },
    });
    m.addLayer({
      id: "marks-fill",
      type: "fill",
      source: "marks",
      filter: ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]],
      paint: { "fill-color": ["coalesce", ["get", "color"], "#f59e0b"], "fill-opacity": 0.3 },
    });
    m.addLayer({
      id: "marks-point",
      type: "circle",
      source: "marks",
      filter: ["==", ["geometry-type"], "Point"],
      paint: {
        "circle-radius": 8,
        "circle-color": ["coalesce", ["get", "color"], "#be185d"],
        "circle-stroke-color": "#fff",
        "circle-stroke-width": 2,
      },
    });
    m.addSource("pick", { type: "geojson", data: EMPTY });
    m.addLayer({
      id: "pick",
      type: "circle",
      source: "pick",
      paint: {
        "circle-radius": 10,
        "circle-color": "#ef4444",
        "circle-stroke-color": "#7f1d1d",
        "circle-stroke-width": 3,
      },
    });

    m.on("click", "clusters", (e) => {
      e.preventDefault();
      const f = e.features[0];
      m.easeTo({ center: f.geometry.coordinates, zoom: Math.min(m.getZoom() + 2, 16) });
    });
    const camClick = (e) => {
      e.preventDefault();
      const f = e.features[0];
      this.handlers.camera.forEach((fn) => fn(f.properties.id, f));
    };
    m.on("click", "camera-points", camClick);
    m.on("click", "chosen", camClick);
    m.on("click", "incidents", (e) => {
      if (e.defaultPrevented) return;
      e.preventDefault();
      this.handlers.incident.forEach((fn) => fn(e.features[0]));
    });
    m.on("click", (e) => {
      if (e.defaultPrevented) return;
      this.handlers.click.forEach((fn) => fn(e.lngLat));
    });
    for (const id of ["clusters", "camera-points", "chosen", "incidents"]) {
      m.on("mouseenter", id, () => (m.getCanvas().style.cursor = "pointer"));
      m.on("mouseleave", id, () => (m.getCanvas().style.cursor = ""));
    }
    m.on("moveend", () => this.refreshDetail());
    m.on("error", (e) => {
      // a camera tile refused (session expired, address no longer registered): say so once
      if (e.sourceId === "cameras" && this.onError && !this.tileErrorShown) {
        this.tileErrorShown = true;
        this.onError(e.error || new Error("camera tiles unavailable"));
      }
    });
  }

  /** Cluster columns (GET /api/cameras/clusters) as GeoJSON features. */
  static features(c) {
    const feats = new Array(c.n.length);
    for (let i = 0; i < c.n.length; i++) {
      feats[i] = {
        type: "Feature",
        geometry: { type: "Point", coordinates: [c.lon[i], c.lat[i]] },
        properties: { n: c.n[i], id: c.id[i], purpose: c.purposes[c.purpose[i]], dk: c.direction_known[i] === 1 },
      };
    }
    return feats;
  }

  /** The whole registry: an overview to fit the view to (and its size); the camera layer
   * itself comes as vector tiles. Returns how many cameras the registry has. */
  async loadCameras(onError) {
    this.onError = onError;
    const marks = (window.__gt && window.__gt.marks) || {};
    const overview = api("/api/cameras/clusters?bbox=-180,-85,180,85&zoom=6"); // while the map sets up
    await this.loaded;
    const c = await overview;
    marks.camerasFetched = performance.now();
    this.cameraCount = c.total;
    this.fitDense(ConsoleMap.features(c));
    marks.camerasBuilt = performance.now();
    this.refreshDetail(onError);
    return c.total;
  }

  /** The cameras drawn now (from the tiles): clusters and single cameras with their screen
   * position, for the browser tests and benchmarks (window.__gt.renderedCameras). */
  renderedCameras() {
    const feats = this.map.queryRenderedFeatures({ layers: ["clusters", "camera-points"] });
    return feats.map((f) => {
      const p = this.map.project(f.geometry.coordinates);
      const props = f.properties;
      return { layer: f.layer.id, id: props.id ?? null, count: props.count ?? 1, x: p.x, y: p.y };
    });
  }

  /** Fit the view to where most cameras are (the middle 90% of each coordinate). */
  fitDense(feats) {
    if (!feats.length) return;
    // weighted quantile (weight = cameras in the cluster)
    const wq = (vals, weights, p) => {
      const order = vals.map((v, i) => [v, weights[i]]).sort((a, b) => a[0] - b[0]);
      const total = order.reduce((acc, x) => acc + x[1], 0);
      let acc = 0;
      for (const [v, w] of order) {
        acc += w;
        if (acc >= p * total) return v;
      }
      return order[order.length - 1][0];
    };
    const lon = feats.map((f) => f.geometry.coordinates[0]);
    const lat = feats.map((f) => f.geometry.coordinates[1]);
    const wts = feats.map((f) => f.properties.n);
    const mid = [wq(lon, wts, 0.5), wq(lat, wts, 0.5)];
    // the city where most cameras are: within a degree of the weighted median
    const idx = lon.map((_v, i) => i).filter((i) => Math.abs(lon[i] - mid[0]) < 1 && Math.abs(lat[i] - mid[1]) < 1);
    const nl = idx.map((i) => lon[i]);
    const nb = idx.map((i) => lat[i]);
    const nw = idx.map((i) => wts[i]);
    // the overview's clusters are about a degree wide: a city is often one cluster, so the
    // quantiles can meet in a point; show at least a city's width around it (about zoom 11)
    const minHalf = 0.12;
    let [w, s, e, n] = [wq(nl, nw, 0.01), wq(nb, nw, 0.01), wq(nl, nw, 0.99), wq(nb, nw, 0.99)];
    if (e - w < 2 * minHalf) [w, e] = [(w + e) / 2 - minHalf, (w + e) / 2 + minHalf];
    if (n - s < 2 * minHalf) [s, n] = [(s + n) / 2 - minHalf, (s + n) / 2 + minHalf];
    this.map.fitBounds(
      [
        [w, s],
        [e, n],
      ],
      { padding: 20, duration: 0 },
    );
  }

  setIncidents(fc) {
    this.loaded.then(() => this.map.getSource("incidents").setData(fc));
  }

  /** Base layer and view cones for the visible box when zoomed in far enough. */
  async refreshDetail(onError) {
    const m = this.map;
    const z = m.getZoom();
    const b = m.getBounds();
    const box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
    try {
      if (z >= BASEMAP_MIN_ZOOM && this.basemapKey !== box) {
        this.basemapKey = box;
        m.getSource("basemap").setData(await api(`/api/basemap?bbox=${box}`));
      }
      if (z >= VIEWS_MIN_ZOOM && this.viewsKey !== box) {
        this.viewsKey = box;
        m.getSource("views").setData(await api(`/api/cameras/views?bbox=${box}`));
      } else if (z < VIEWS_MIN_ZOOM && this.viewsKey !== null) {
        this.viewsKey = null;
        m.getSource("views").setData(EMPTY);
      }
    } catch (e) {
      if (onError) onError(e);
    }
  }

  /** The cameras of a video request: highlighted, with a line from the incident to each. */
  async showChosen(incident, fc) {
    await this.loaded;
    await new Promise((res) => requestAnimationFrame(res)); // the wall has taken its place
    this.map.resize();
    const [ilon, ilat] = incident.geometry.coordinates;
    this.setPick({ lng: ilon, lat: ilat }); // the incident itself, in red
    this.map.getSource("chosen").setData({
      type: "FeatureCollection",
      features: fc.features.map((f) => ({
        type: "Feature",
        geometry: f.geometry,
        properties: { id: f.properties.id, purpose: f.properties.purpose },
      })),
    });
    this.map.getSource("chosen-lines").setData({
      type: "FeatureCollection",
      features: fc.features.map((f) => ({
        type: "Feature",
        geometry: { type: "LineString", coordinates: [[ilon, ilat], f.geometry.coordinates] },
        properties: { id: f.properties.id, distance_m: f.properties.distance_m },
      })),
    });
    const pts = [[ilon, ilat], ...fc.features.map((f) => f.geometry.coordinates)];
    const lons = pts.map((p) => p[0]);
    const lats = pts.map((p) => p[1]);
    this.map.fitBounds(
      [
        [Math.min(...lons), Math.min(...lats)],
        [Math.max(...lons), Math.max(...lats)],
      ],
      { padding: 80, maxZoom: 17, duration: 0 },
    );
    // cones of the chosen cameras, whatever the zoom
    const pad = 0.01;
    const box = [Math.min(...lons) - pad, Math.min(...lats) - pad, Math.max(...lons) + pad, Math.max(...lats) + pad]
      .map((v) => v.toFixed(5))
      .join(",");
    try {
      const views = await api(`/api/cameras/views?bbox=${box}`);
      const ids = new Set(fc.features.map((f) => f.properties.id));
      views.features = views.features.filter((v) => ids.has(v.properties.camera_id));
      this.viewsKey = "chosen";
      this.map.getSource("views").setData(views);
    } catch (_e) {
      /* cones are decoration; the list and the wall carry the facts */
    }
  }

  clearChosen() {
    this.loaded.then(() => {
      this.map.getSource("chosen").setData(EMPTY);
      this.map.getSource("chosen-lines").setData(EMPTY);
    });
  }

  setPick(lngLat) {
    this.loaded.then(() =>
      this.map.getSource("pick").setData({
        type: "FeatureCollection",
        features: lngLat
          ? [{ type: "Feature", geometry: { type: "Point", coordinates: [lngLat.lng, lngLat.lat] }, properties: {} }]
          : [],
      }),
    );
  }

  /** Data of an overlay source ("gaps", "reach"); null empties it. */
  setOverlay(name, fc) {
    return this.loaded.then(() => this.map.getSource(name).setData(fc || EMPTY));
  }

  /** The visible box as "west,south,east,north". */
  bboxString(digits = 5) {
    const b = this.map.getBounds();
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(digits)).join(",");
  }

  /** Fit the view to a GeoJSON FeatureCollection's coordinates. */
  fitFeatures(fc, maxZoom = 16) {
    const xs = [];
    const ys = [];
    const walk = (c) => {
      if (typeof c[0] === "number") {
        xs.push(c[0]);
        ys.push(c[1]);
      } else c.forEach(walk);
    };
    fc.features.forEach((f) => f.geometry && walk(f.geometry.coordinates));
    if (!xs.length) return;
    this.map.fitBounds(
      [
        [Math.min(...xs), Math.min(...ys)],
        [Math.max(...xs), Math.max(...ys)],
      ],
      { padding: 40, maxZoom, duration: 0 },
    );
  }

  setMarks(fc) {
    this.loaded.then(() => this.map.getSource("marks").setData(fc || EMPTY));
  }

  flyTo(lon, lat, zoom = 16) {
    this.map.jumpTo({ center: [lon, lat], zoom });
  }
}
