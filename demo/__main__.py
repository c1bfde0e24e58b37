"""Entry point: ``python -m demo [--epochs N]`` (``make demo``)."""

from __future__ import annotations

import sys

from demo.run import main

sys.exit(main(sys.argv[1:]))
