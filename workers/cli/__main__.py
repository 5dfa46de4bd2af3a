"""``python -m workers.cli``: the same as the ``arledger`` console script."""

from workers.cli import main

main()
