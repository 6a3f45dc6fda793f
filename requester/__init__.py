"""The requester's command line: post jobs, move content, verify results."""
