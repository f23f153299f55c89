"""A free TCP port of 127.0.0.1, for the servers that the benchmarks and the tests start.

Here rather than in the storemon package, which never needs one. The benchmarks, run as
`python bench/<script>.py`, import it as a module of their own folder; pytest puts bench/ on
the import path (`pythonpath` in pyproject.toml).
"""

import socket


def free_port() -> int:
    """A port that nothing listens on now; the caller's server binds it soon after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
