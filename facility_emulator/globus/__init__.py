"""Globus Transfer for the emulated facilities: collections on the sandbox, tasks that really copy.

``flavour`` serves the Transfer API v0.10 subset under ``/transfer``; the SF API flavour's Globus
routes share its engine (``engine.engine_of``) and collections (``collections.catalog_of``).
``scopes`` holds the scope rules the token endpoint and the Transfer routes share.
"""
