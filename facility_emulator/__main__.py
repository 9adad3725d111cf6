"""``python -m facility_emulator``."""

import sys

from facility_emulator.cli import main

sys.exit(main())
