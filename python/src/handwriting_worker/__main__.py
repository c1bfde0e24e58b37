"""``python -m handwriting_worker``."""

from handwriting_worker.commands.cli import main

raise SystemExit(main())
