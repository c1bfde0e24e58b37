"""``python -m handwriting_worker``."""

from handwriting_worker.cli import main

raise SystemExit(main())
