import sys

from reidlab.cli import main

sys.exit(main())
