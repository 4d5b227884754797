"""`python -m adlang`: the same as the `adlang` command."""

from adlang.cli import command

if __name__ == "__main__":
    command()
