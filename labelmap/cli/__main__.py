"""``python -m labelmap.cli``: the same as ``labelmap-convert``."""

from labelmap.cli import main

raise SystemExit(main())
