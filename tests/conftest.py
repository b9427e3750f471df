pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.app",
    "tests.fixtures.factories",
    "tests.fixtures.live",
    "tests.fixtures.cluster",
    "tests.fixtures.coturn",
    "tests.fixtures.logs",
]
