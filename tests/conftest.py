"""Shared fixtures, and how `make test` splits the suite over the machine's two cores.

`make test` runs pytest twice: first every test not marked `serial` on two pytest-xdist workers
(`-n 2 --dist loadgroup`), the browser tests all on one of them (group `browser`: at most one
browser call at a time, as before); then the `serial` tests alone, with nothing else running. A
`serial` test holds a timing bound that a second busy core would bend (the rolling restarts, whose
media and reconnect bounds measure the product, not the machine), or shares its name with other
items (schemathesis' per-operation tests): xdist's group scheduling keys its work by test name,
so all but one of such items would silently never run in parallel. A worker refuses to start
on any such name outside `serial`. A plain `pytest` runs it all in one process, in order.
"""

import os
from collections import Counter

import pytest

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.app",
    "tests.fixtures.factories",
    "tests.fixtures.live",
    "tests.fixtures.cluster",
    "tests.fixtures.coturn",
    "tests.fixtures.logs",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.xdist_group("browser"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        names = Counter(item.nodeid for item in items if item.get_closest_marker("serial") is None)
        shared = sorted(name for name, count in names.items() if count > 1)
        if shared:
            raise pytest.UsageError(f"tests that share a name would not all run on xdist workers; "
                                    f"mark them serial: {shared[:5]}")
