"""``python -m imgenlib``: see `imgenlib.cli`."""

from imgenlib.cli import main

raise SystemExit(main())
