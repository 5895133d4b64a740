"""``python -m distml``: the same entry as the ``distml`` console script."""

from distml.cli import main

if __name__ == "__main__":
    main()
