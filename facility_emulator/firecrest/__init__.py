"""The FirecREST v2 flavour of the emulator (CSCS Alps style systems on the local scheduler)."""
