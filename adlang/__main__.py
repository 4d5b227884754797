"""`python -m adlang`: the same as the `adlang` command."""

import sys

from adlang.cli import main

if __name__ == "__main__":
    sys.exit(main())
