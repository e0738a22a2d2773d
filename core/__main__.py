"""``python -m aware3d`` runs the same CLI as the ``aware3d`` command."""

import sys

from .app.cli import main

sys.exit(main())
