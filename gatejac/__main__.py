"""``python -m gatejac`` runs the command line, as the ``gatejac`` command does."""

from gatejac.verify._cli import main

raise SystemExit(main())
