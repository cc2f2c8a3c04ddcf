"""``python -m panet`` is the ``panet`` command (for machines where the script is not on PATH)."""

import sys

from panet.cli import main

sys.exit(main())
