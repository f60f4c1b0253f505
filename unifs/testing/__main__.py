"""``python -m unifs.testing [PROVIDER...]``: ``unifs serve`` (local servers until Ctrl-C)."""

import sys

from unifs.testing.serve import main

sys.exit(main())
