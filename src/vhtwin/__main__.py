"""``python -m vhtwin``: the ``vhtwin`` command (see :mod:`vhtwin.cli`)."""

import sys

from .cli import main

sys.exit(main())
