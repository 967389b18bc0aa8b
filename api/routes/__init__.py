"""One module per resource, each exposing ``router``; ``api.main`` includes them all."""
