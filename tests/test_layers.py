"""The import rules of docs/architecture.md ("Layers"), checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "televisit"
GROUND = ("core", "realtime")
DOMAINS = ("users", "auth", "appointments", "rooms", "chat", "audit", "admin", "mail")


def imports(path: Path) -> set[str]:
    """Every televisit module a file imports, type-only imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("televisit"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("televisit"))
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("layer", GROUND)
def test_the_ground_floor_imports_no_domain(layer):
    for path in (SRC / layer).rglob("*.py"):
        above = {m for m in imports(path) if package_of(m) not in GROUND}
        assert not above, f"{path.relative_to(SRC)} imports {sorted(above)}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_never_uses_another_domains_repository(domain):
    for path in (SRC / domain).rglob("*.py"):
        foreign = {m for m in imports(path)
                   if package_of(m) in DOMAINS and package_of(m) != domain and ".repository" in m}
        assert not foreign, f"{path.relative_to(SRC)} imports {sorted(foreign)}"


def test_only_the_appointments_domain_writes_appointment_rows():
    """Other domains ask appointments.service; they never import its model to change a row."""
    for path in SRC.rglob("*.py"):
        owner = package_of(".".join(("televisit", *path.relative_to(SRC).parts)))
        if owner in ("appointments", "models.py"):
            continue
        text = path.read_text()
        assert "update(Appointment)" not in text and "appointment.status =" not in text, path


def test_nothing_but_the_wiring_reads_app_state():
    allowed = {SRC / "app.py", SRC / "runtime.py", SRC / "core" / "runtime.py"}
    for path in SRC.rglob("*.py"):
        if path not in allowed:
            assert ".state." not in path.read_text().replace("self.state.", ""), path
