"""``python -m gilfree``: the same as the ``gilfree`` command."""

import sys

from gilfree._cli import main

sys.exit(main())
