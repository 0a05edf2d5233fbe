"""`python -m nlu train | predict | test | eval` (the same commands as `python -m bot nlu ...`)."""

import sys

from nlu.cli import main

sys.exit(main())
