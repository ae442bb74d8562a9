import sys

from huashi.cli import main

sys.exit(main())
