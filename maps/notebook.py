"""Showing the offline maps inside a notebook, where no server answers ``/static/vendor``.

:func:`maps.base.render` points every asset at ``/static/vendor`` on the goldentime server. In
Jupyter that path does not exist, so :func:`inline_html` copies the vendored files into the page
(scripts and stylesheets inline, small CSS images as data URIs, icon fonts left out) and :func:`show` wraps it in an iframe.
Still nothing is fetched from off the machine.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
import warnings
from pathlib import Path
from typing import Any

import folium

from maps.base import STATIC, render

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"

_SCRIPT = re.compile(r'<script src="' + re.escape(STATIC) + r'/([^"]+)"></script>')
_LINK = re.compile(r'<link rel="stylesheet" href="' + re.escape(STATIC) + r'/([^"]+)"/>')
_CSS_URL = re.compile(r"url\((['\"]?)(?!data:|#|https?:|//)([^'\")]+)\1\)")


def _css_inline(rel: str) -> str:
    path = VENDOR_DIR / rel
    css = path.read_text(encoding="utf-8", errors="replace")

    def _data(m: re.Match[str]) -> str:
        target = (path.parent / m.group(2).split("?")[0].split("#")[0]).resolve()
        mime = mimetypes.guess_type(target.name)[0] or ""
        # images only (Leaflet's layer icons); icon fonts are left out to keep notebooks small
        if not mime.startswith("image/") or not target.is_file() or target.stat().st_size > 100_000:
            return "url()"
        return f"url(data:{mime};base64,{base64.b64encode(target.read_bytes()).decode()})"

    return "<style>" + _CSS_URL.sub(_data, css) + "</style>"


def inline_html(m: folium.Map) -> str:
    """The rendered page (checked offline by :func:`maps.base.render`) with vendored assets inlined."""
    page = render(m)
    page = _SCRIPT.sub(
        lambda x: (
            "<script>"
            + (VENDOR_DIR / x.group(1)).read_text(encoding="utf-8", errors="replace")
            + "</script>"
        ),
        page,
    )
    return _LINK.sub(lambda x: _css_inline(x.group(1)), page)


def show(m: folium.Map, *, height_px: int = 520) -> Any:
    """An IPython object showing the map in a notebook cell (self-contained iframe)."""
    from IPython.display import HTML

    doc = html.escape(inline_html(m), quote=True)
    with warnings.catch_warnings():  # IPython suggests IFrame, which cannot take srcdoc
        warnings.simplefilter("ignore", UserWarning)
        return HTML(
            f'<iframe srcdoc="{doc}" style="width:100%;height:{height_px}px;border:none"></iframe>'
        )
