"""``python -m facility_cli``: the ``facility`` command without its console script."""

from facility_cli.main import main

main()
