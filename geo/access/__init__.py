"""The access wing: roles (one table), the gate, tokens, audit, shares, users and the request
workflows with their policy. Import the submodule you need (``from geo.access import gate``);
this package imports nothing at load so that ``geo.models`` may read :mod:`geo.access.roles`.
"""
