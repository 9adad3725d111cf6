"""The NERSC Superfacility API v1.2 flavour of the emulator (``/sfapi/api/v1.2``)."""
