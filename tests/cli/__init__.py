"""Tests of the ``facility`` command."""
