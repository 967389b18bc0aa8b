"""Entry point of the ``goldentime`` console script.

Each module in ``cli/`` defines ``register(app)``; they are discovered here, so a new command
group is a new file, never an edit of this one.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import cli

app = typer.Typer(
    help="goldentime: open CCTV control-centre service on PostGIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for _m in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
    if _m.name in {"main", "common"}:
        continue
    _mod = importlib.import_module(f"cli.{_m.name}")
    if hasattr(_mod, "register"):
        _mod.register(app)


if __name__ == "__main__":
    app()
