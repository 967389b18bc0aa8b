"""Folium map builders; every asset (Leaflet, plugins, fonts) is served locally from ``maps/static``."""
