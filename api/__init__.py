"""goldentime HTTP API (FastAPI): thin routes over the ``geo`` domain layer."""
