"""goldentime domain layer: cameras, roads, incidents, routing, coverage and video over PostGIS.

Plain Python over SQLAlchemy sessions and GeoDataFrames; never imports a web framework.
"""

__version__ = "0.1.0"
