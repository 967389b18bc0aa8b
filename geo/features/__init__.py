"""GIS clients' view of the data: the collection registry (:mod:`geo.features.collections`,
shared by OGC API - Features and the vector tiles) and the feature queries
(:mod:`geo.features.items`)."""
