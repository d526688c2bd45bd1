"""``python -m lslacq.cli``: the ``lslacq`` command."""

import sys

from . import main

sys.exit(main())
