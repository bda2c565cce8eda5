"""`python -m vis`: the `vis` command line (see `vis.cli`)."""

import sys

from vis.cli import main

if __name__ == "__main__":
    sys.exit(main())
