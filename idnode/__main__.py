"""``python -m idnode``: the same command line as the ``idnode`` console script."""

from idnode.cli import main

if __name__ == "__main__":
    main(prog_name="idnode")
