"""`python -m tex ...` is the `tex` command."""

from tex.cli import main

raise SystemExit(main())
