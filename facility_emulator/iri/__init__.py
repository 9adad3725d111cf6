"""The DOE IRI Facility API flavour (v1 and v2), served under ``/iri/api/v1`` and ``/iri/api/v2``."""
