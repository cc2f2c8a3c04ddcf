"""``python -m panet.cli``."""

import sys

from panet.cli import main

sys.exit(main())
