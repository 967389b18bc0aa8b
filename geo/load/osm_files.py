"""Reading OSM road files: the format of a file from its name, pyosmium's cleaning pass and the
osmnx graph of a ``.osm`` / ``.osm.pbf`` / ``.graphml`` file.

OSM files are first passed through pyosmium: the ways of interest (``highway=*`` for roads) and
their nodes are written to a temporary OSM XML, and ways cut at the extract's edge (referencing
nodes that are not in the file) keep their longest run of present nodes, because osmnx refuses
such ways ("Some edges missing nodes"). PBF files take the same path. Kept apart from the row
building and database writes (:mod:`geo.load.osm_roads`) so that reading can be tested and reused
(buildings from PBF use the same cleaning pass) without a database.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from geo.errors import InvalidInput, LoadError

ROAD_FORMATS = ("osm", "pbf", "graphml")


def detect_road_format(path: Path) -> str:
    """``osm`` | ``pbf`` | ``graphml`` from the file name."""
    name = path.name.lower()
    if name.endswith(".pbf"):
        return "pbf"
    if name.endswith(".graphml"):
        return "graphml"
    if name.endswith((".osm", ".xml", ".osm.xml")):
        return "osm"
    raise LoadError(
        f"cannot tell the format of {path.name}: expected .osm, .osm.pbf or .graphml "
        "(or pass --format)",
        field="format",
    )


def _check_fmt(path: Path, fmt: str | None, allowed: Iterable[str]) -> str:
    fmt = (fmt or detect_road_format(path)).lower()
    allowed = tuple(allowed)
    if fmt not in allowed:
        raise InvalidInput(
            f"format must be one of {', '.join(allowed)}, not {fmt!r}", field="format"
        )
    return fmt


def _longest_run(refs: list[int], present: set[int]) -> list[int]:
    best: list[int] = []
    cur: list[int] = []
    for r in refs:
        if r in present:
            cur.append(r)
            if len(cur) > len(best):
                best = cur
        else:
            cur = []
    return list(best)


def osm_to_clean_xml(src: Path, dst: Path, *, way_key: str | None) -> dict[str, int]:
    """Write the ways tagged ``way_key`` (all ways when ``None``), their nodes and (for all ways)
    the relations of ``src`` (.osm or .pbf) to the OSM XML ``dst`` that osmnx can read.

    Ways cut at the extract's boundary keep their longest run of nodes present in the file; ways
    left with fewer than 2 nodes are skipped. Returns counts (ways kept, trimmed, skipped, nodes).
    """
    import osmium

    present: set[int] = set()
    for n in osmium.FileProcessor(str(src), osmium.osm.NODE):
        present.add(n.id)
    kept_ways: list[tuple[Any, list[int]]] = []
    used: set[int] = set()
    stats = {"ways": 0, "trimmed": 0, "skipped": 0, "nodes": 0}
    for w in osmium.FileProcessor(str(src), osmium.osm.WAY):
        if way_key is not None and way_key not in w.tags:
            continue
        refs = [n.ref for n in w.nodes]  # type: ignore[union-attr]
        run = refs if all(r in present for r in refs) else _longest_run(refs, present)
        if len(run) < 2:
            stats["skipped"] += 1
            continue
        if len(run) != len(refs):
            stats["trimmed"] += 1
        tags = {t.k: t.v for t in w.tags}
        kept_ways.append((osmium.osm.mutable.Way(id=w.id, nodes=run, tags=tags), run))
        used.update(run)
        stats["ways"] += 1
    if dst.exists():
        dst.unlink()
    with osmium.SimpleWriter(str(dst)) as writer:
        for n in osmium.FileProcessor(str(src), osmium.osm.NODE):
            if way_key is None or n.id in used:
                writer.add_node(n)
                stats["nodes"] += 1
        for w, _ in kept_ways:
            writer.add_way(w)
        if way_key is None:
            for r in osmium.FileProcessor(str(src), osmium.osm.RELATION):
                writer.add_relation(r)
    return stats


def read_road_graph(path: Path, *, fmt: str | None = None) -> Any:
    """The osmnx MultiDiGraph of a road file: ``graph_from_xml(retain_all=True, simplify=True)``
    for OSM XML/PBF (highway ways only), ``load_graphml`` for osmnx graphml."""
    import osmnx as ox

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="path")
    fmt = _check_fmt(path, fmt, ROAD_FORMATS)
    try:
        if fmt == "graphml":
            return ox.load_graphml(path)
        with tempfile.TemporaryDirectory(prefix="goldentime-osm-") as tmp:
            clean = Path(tmp) / "highways.osm"
            stats = osm_to_clean_xml(path, clean, way_key="highway")
            if stats["ways"] == 0:
                raise LoadError(f"{path.name} has no highway=* ways", field="file")
            return ox.graph_from_xml(clean, retain_all=True, simplify=True)
    except (LoadError, InvalidInput):
        raise
    except Exception as e:  # unreadable XML/PBF/graphml: the whole file is unusable
        raise LoadError(f"cannot read {path.name} as {fmt}: {e}", field="file") from e
