"""ORM models. Each domain adds its own module here; importing the package imports them all,
so ``Base.metadata`` always holds the whole schema (Alembic migrations are the source of truth)."""

from __future__ import annotations

import importlib
import pkgutil

from geo.models.base import Base
from geo.models.core import Building, Camera, CameraView, DataLoad, Incident, RoadEdge, RoadNode

for _m in pkgutil.iter_modules(__path__):
    if _m.name not in {"base", "core"}:
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = [
    "Base",
    "Building",
    "Camera",
    "CameraView",
    "DataLoad",
    "Incident",
    "RoadEdge",
    "RoadNode",
]
