"""The provider node: claims jobs, runs them in hardened containers, publishes results."""
