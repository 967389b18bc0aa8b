#!/usr/bin/env bash
# Re-fetch the vendored web assets (Leaflet, folium's defaults, Swagger UI) from the npm registry
# into maps/static/vendor. Run by a developer when upgrading; the result is committed, so users
# and CI never download anything.
set -euo pipefail
cd "$(dirname "$0")/.."
out=maps/static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch() { # fetch NAME@VERSION DEST_SUBDIR FILES...
  local spec=$1 dest=$2; shift 2
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  local tgz; tgz=$(ls -t "$tmp"/*.tgz | head -1)
  mkdir -p "$tmp/x" && tar -xzf "$tgz" -C "$tmp/x"
  mkdir -p "$out/$dest"
  for f in "$@"; do cp -r "$tmp/x/package/$f" "$out/$dest/"; done
  rm -rf "$tmp/x" "$tgz"
}
fetch leaflet@1.9.3 leaflet dist/leaflet.js dist/leaflet.css dist/images
fetch jquery@3.7.1 jquery dist/jquery.min.js
fetch bootstrap@5.2.2 bootstrap dist/js/bootstrap.bundle.min.js dist/css/bootstrap.min.css
fetch leaflet.awesome-markers@2.0.5 awesome-markers dist/leaflet.awesome-markers.js dist/leaflet.awesome-markers.css dist/images
fetch @fortawesome/fontawesome-free@6.2.0 fontawesome css webfonts
fetch swagger-ui-dist@5 swagger-ui swagger-ui-bundle.js swagger-ui.css favicon-32x32.png
fetch leaflet.markercluster@1.5.3 markercluster dist/leaflet.markercluster.js dist/MarkerCluster.css dist/MarkerCluster.Default.css
fetch leaflet.heat@0.2.0 heat dist/leaflet-heat.js
fetch leaflet-textpath@1.2.3 textpath leaflet.textpath.js
# the console's map: the CSP build (its worker is a file, no blob: worker under default-src 'self')
fetch maplibre-gl@5.24.1 maplibre dist/maplibre-gl-csp.js dist/maplibre-gl-csp-worker.js dist/maplibre-gl.css dist/LICENSE.txt
# the folium pages' camera layer from the same vector tiles (Leaflet needs a plugin for MVT); the
# package has no licence file: its README's bundled-dependencies list and "Legalese" are it
fetch leaflet.vectorgrid@1.3.0 vectorgrid dist/Leaflet.VectorGrid.bundled.js README.md
sed -n '/^The difference is/,/^ If you are adding/p;/^## Legalese/,$p' "$out/vectorgrid/README.md" >"$out/vectorgrid/LICENSE.txt"
rm "$out/vectorgrid/README.md"
cp "$(python3 -c "import folium,os;print(os.path.dirname(folium.__file__))")/templates/leaflet_heat.min.js" "$out/heat/"
echo "vendored into $out"; du -sh "$out"
