"""The provider node child-process driver, where the test suites have always imported it."""

from provider_node.dev.child import (
    CRASH_ENV,
    NodeFailed,
    ProviderNode,
    node_env,
    parse_logfmt,
    provider_node_cli,
    register_provider,
)

__all__ = [
    "CRASH_ENV",
    "NodeFailed",
    "ProviderNode",
    "node_env",
    "parse_logfmt",
    "provider_node_cli",
    "register_provider",
]
