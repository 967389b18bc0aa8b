"""Video: sources, recorder and archive, egress privacy, motion alerts (see issue 7)."""
