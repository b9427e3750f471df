"""Shared fixtures, and how `make test` splits the suite over the machine's two cores.

`make test` runs pytest twice: first every test not marked `serial` on two pytest-xdist workers
(`-n 2 --dist loadgroup`), the browser tests all on one of them (group `browser`: at most one
browser call at a time, as before); then the `serial` tests alone, with nothing else running. A
`serial` test holds a timing bound that a second busy core would bend (the rolling restarts, whose
media and reconnect bounds measure the product, not the machine). A plain `pytest` runs it all in
one process, in order.
"""

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
