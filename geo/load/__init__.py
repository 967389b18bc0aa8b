"""Loaders for the files users have: Korean public CSVs (CP949/UTF-8), OSM, GeoJSON, graphml.

Every load is one transaction, idempotent (re-loading the same file changes nothing), and
reports each unusable row with its row number and reason; nothing is dropped silently.
"""
