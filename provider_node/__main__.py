"""``python -m provider_node`` runs the same command line as the ``provider-node`` script."""

from provider_node.cli import main

main()
