"""``python -m requester`` runs the same command line as the ``requester`` script."""

from requester.cli import main

main()
