"""The folium pages' camera layer from the service's own vector tiles, as the console draws it.

A page that embeds every camera as GeoJSON/SVG cannot hold a national registry (over a million
public cameras in Korea). :func:`add_camera_tiles` instead adds the registry as vector tiles
(``GET /ogc/collections/{cameras,camera_views}/tiles/{z}/{x}/{y}``, :mod:`geo.tiles`): clusters
with a ``count`` far out, single cameras from the points zoom on, field-of-view polygons from
their ``minzoom``. Leaflet draws MVT through the ``leaflet.vectorgrid`` plugin (folium's
:class:`~folium.plugins.VectorGridProtobuf`), served from ``/static/vendor`` like every asset
(:data:`maps.base.LOCAL_ASSETS` maps its name).

The tiles go with the same authentication as the page itself: the console's session cookie
(``fetch`` with ``credentials: 'same-origin'``), as the console's own camera tiles do. The
page never holds the bearer token and no token is ever put into a tile URL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import folium
from folium.plugins import VectorGridProtobuf
from folium.template import Template

from geo.tiles import TILED

#: Where the tiles are served (relative: the page's own origin, behind any proxy).
TILES_PREFIX = "/ogc/collections"
#: The pane of the camera layers: above the overlay pane (gap hexagons, routes), below markers.
PANE = "gtCameras"
VIEW_COLOUR = "#2b8cbe"
CLUSTER_COLOUR = "#1f4e79"

# Once per page: VectorGrid 1.3.0 (its last release) gives point symbolizers a getLatLng with no
# position, so Leaflet >= 1.5 throws on every mouse event over a point; upstream removed it
# (commit d17ce49, unreleased). Then one formatter of popups and tooltips for both layers.
_SUPPORT = """
if (!L.VectorGrid.__gtPatched) {
  var gtCreate = L.VectorGrid.prototype._createLayer;
  L.VectorGrid.include({
    _createLayer: function (feat, pxPerExtent, layerStyle) {
      var layer = gtCreate.call(this, feat, pxPerExtent, layerStyle);
      if (feat.type === 1) { layer.getLatLng = null; }
      return layer;
    }
  });
  L.VectorGrid.__gtPatched = true;
}
window.gtCameraTiles = window.gtCameraTiles || {
  esc: function (v) {
    return String(v === null || v === undefined ? "unknown" : v).replace(/[&<>"']/g,
      function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]; });
  },
  /* how many of a feature's cameras the page shows: 0 hides it (purpose filter) */
  shown: function (p, purposes) {
    var n = p.count || 1;
    if (!purposes) { return n; }
    if (n > 1) {
      return purposes.reduce(function (s, k) { return s + (p["n_" + k] || 0); }, 0);
    }
    return purposes.indexOf(p.purpose) >= 0 ? 1 : 0;
  },
  yes: function (v) { return v === true || v === "true" ? "yes" : (v === false || v === "false" ? "no" : "unknown"); },
  rows: function (pairs) {
    var e = this.esc;
    return "<table style='font-size:12px'>" + pairs.map(function (r) {
      return "<tr><th style='text-align:left;padding-right:6px'>" + e(r[0]) + "</th><td>" + e(r[1]) + "</td></tr>";
    }).join("") + "</table>";
  },
  label: function (kind, p, purposes) {
    var n = this.shown(p, purposes);
    if (kind === "cameras" && n > 1) { return n + " cameras"; }
    var id = kind === "cameras" ? p.id : p.camera_id;
    return "camera " + this.esc(id) + " (" + this.esc(p.purpose) + ")";
  },
  popup: function (kind, p, purposes) {
    var n = this.shown(p, purposes), e = this.esc;
    if (kind === "cameras" && n > 1) {
      var ks = purposes || Object.keys(p).filter(function (k) { return k.indexOf("n_") === 0; })
        .map(function (k) { return k.slice(2); });
      var by = ks.filter(function (k) { return p["n_" + k] > 0; })
        .map(function (k) { return [k, p["n_" + k]]; });
      return "<div class='gt-cluster'><b>" + n + " cameras</b> (zoom in for each)" + this.rows(by) + "</div>";
    }
    var id = kind === "cameras" ? p.id : p.camera_id;
    var rows = [["purpose", p.purpose], ["direction known", this.yes(p.direction_known)]];
    if (kind === "camera_views") {
      rows.push(["range m", p.range_m === undefined ? "unknown" : Math.round(p.range_m)]);
      if (p.fov_deg !== undefined) { rows.push(["field of view", p.fov_deg + "°"]); }
      if (p.heading_deg !== undefined) { rows.push(["heading", p.heading_deg + "°"]); }
    }
    var title = p.name ? e(p.name) + " (#" + e(id) + ")" : "camera " + e(id);
    return "<div class='gt-camera' data-camera-id='" + e(id) + "'><b>" + title + "</b>" + this.rows(rows) + "</div>";
  },
  bind: function (layer, map, kind, purposes) {
    var self = this, tip = L.tooltip({sticky: true, className: "gt-camera-tip"});
    layer.on("click", function (ev) {
      L.popup({maxWidth: 320}).setLatLng(ev.latlng)
        .setContent(self.popup(kind, ev.layer.properties, purposes)).openOn(map);
    });
    layer.on("mouseover", function (ev) {
      tip.setLatLng(ev.latlng).setContent(self.label(kind, ev.layer.properties, purposes)).openOn(map);
    });
    layer.on("mouseout", function () { map.closeTooltip(tip); });
  }
};
"""


class VectorTiles(VectorGridProtobuf):
    """folium's VectorGridProtobuf (its script from :data:`maps.base.LOCAL_ASSETS`, never a CDN)
    with a click popup and a hover tooltip per feature; ``kind`` is the collection id."""

    _template = Template(
        """
        {% macro script(this, kwargs) -%}
        {{ this.support }}
        var {{ this.get_name() }} = L.vectorGrid.protobuf({{ this.url|tojson }}, {{ this.js_options }});
        window.gtCameraTiles.bind({{ this.get_name() }}, {{ this._parent.get_name() }},
            {{ this.kind|tojson }}, {{ this.purposes|tojson }});
        {%- endmacro %}
        """
    )

    def __init__(
        self,
        url: str,
        *,
        kind: str,
        js_options: str,
        purposes: list[str] | None,
        support: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(url, **kw)
        self._name = "VectorTiles"
        self.kind = kind
        self.js_options = js_options
        self.purposes = purposes
        self.support = _SUPPORT if support else ""


def _camera_style(purposes: list[str] | None) -> str:
    """JS style function of the ``cameras`` layer: clusters sized by count, single cameras as
    small dots (a dark ring when the direction is known); ``[]`` hides a filtered feature."""
    return f"""function (p, z) {{
      var n = window.gtCameraTiles.shown(p, {json.dumps(purposes)});
      if (n < 1) {{ return []; }}
      if ((p.count || 1) > 1) {{
        var r = n < 10 ? 6 : n < 100 ? 9 : n < 1000 ? 13 : n < 10000 ? 18 : 23;
        return {{radius: r, fill: true, fillColor: "{CLUSTER_COLOUR}", fillOpacity: 0.75,
                 color: "#ffffff", weight: 1}};
      }}
      var dk = p.direction_known === true || p.direction_known === "true";
      return {{radius: 4, fill: true, fillColor: "{VIEW_COLOUR}", fillOpacity: 0.95,
               color: dk ? "#1f2937" : "#ffffff", weight: dk ? 1 : 2}};
    }}"""


def _view_style(purposes: list[str] | None) -> str:
    """JS style function of the ``camera_views`` layer (as the GeoJSON views were drawn)."""
    return f"""function (p, z) {{
      if (window.gtCameraTiles.shown(p, {json.dumps(purposes)}) < 1) {{ return []; }}
      var dk = p.direction_known === true || p.direction_known === "true";
      return {{color: "{VIEW_COLOUR}", weight: 0.8, fill: true, fillColor: "{VIEW_COLOUR}",
               fillOpacity: dk ? 0.25 : 0.12, dashArray: dk ? null : "3"}};
    }}"""


def _options(kind: str, style: str) -> str:
    """The VectorGrid options (a JS object: style functions are code) of one collection."""
    spec = TILED[kind]
    id_field = "id" if kind == "cameras" else "camera_id"
    return f"""{{
      rendererFactory: L.svg.tile, interactive: true, pane: "{PANE}",
      className: "gt-camera-tiles gt-tiles-{kind}",
      minZoom: {spec.minzoom}, maxNativeZoom: {spec.maxzoom}, maxZoom: 22,
      fetchOptions: {{credentials: "same-origin"}},
      getFeatureId: function (f) {{ return f.properties.{id_field}; }},
      vectorTileLayerStyles: {{ {kind}: {style} }}
    }}"""


def add_camera_tiles(
    m: folium.Map,
    *,
    prefix: str = TILES_PREFIX,
    purposes: Sequence[str] | None = None,
    views_name: str = "Camera views",
    cameras_name: str = "Cameras",
) -> folium.Map:
    """Add the registry's cameras and their fields of view to ``m`` as vector tiles.

    ``prefix`` is where the collections' tiles are served (``{prefix}/{id}/tiles/{z}/{x}/{y}``);
    ``purposes`` shows only cameras of those purposes (clusters count only them). The layers
    carry no camera in the page: a city or a country costs the same few kilobytes.
    """
    folium.map.CustomPane(PANE, z_index=450, pointer_events=True).add_to(m)
    chosen = list(purposes) if purposes else None
    for i, (kind, name, style) in enumerate(
        (
            ("camera_views", views_name, _view_style(chosen)),
            ("cameras", cameras_name, _camera_style(chosen)),
        )
    ):
        VectorTiles(
            f"{prefix.rstrip('/')}/{kind}/tiles/{{z}}/{{x}}/{{y}}",
            name=name,
            kind=kind,
            js_options=_options(kind, style),
            purposes=chosen,
            support=i == 0,  # the page's shared script, once, before the first layer
            overlay=True,
        ).add_to(m)
    return m
