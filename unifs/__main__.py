"""``python -m unifs`` runs the command-line tool."""

import sys

from unifs.cli import main

sys.exit(main())
