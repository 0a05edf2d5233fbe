"""`python -m nlu train | predict | test | eval`: the commands of `python -m bot nlu ...`, less
what reads content items (`predict --content`, `eval`), which needs the bot's content loader."""

import sys

from nlu.cli import main

sys.exit(main())
