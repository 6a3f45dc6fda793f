"""The ``provider-node`` verbs; each module exposes ``COMMANDS`` (see ``provider_node.cli``)."""
