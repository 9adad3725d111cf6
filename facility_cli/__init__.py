"""The ``facility`` command: status, jobs, files and the emulator from a terminal."""
