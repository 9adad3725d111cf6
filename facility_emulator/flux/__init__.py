"""The Flux RESTful API flavour (flux-restful 1.1.0) of the facility emulator."""
