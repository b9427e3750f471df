"""The PWA files in web/public: a manifest browsers accept, with real icons of the declared sizes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

PUBLIC = Path(__file__).resolve().parents[2] / "web" / "public"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_manifest_is_installable_with_real_icons():
    manifest = json.loads((PUBLIC / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/") and manifest["scope"] == "/"
    assert manifest["name"] and manifest["short_name"] and manifest["theme_color"]
    sizes = set()
    for icon in manifest["icons"]:
        width, height = png_size(PUBLIC / icon["src"].lstrip("/"))
        assert icon["sizes"] == f"{width}x{height}"
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes
    assert any(i.get("purpose") == "maskable" for i in manifest["icons"])
    assert png_size(PUBLIC / "icons" / "apple-touch-icon.png") == (180, 180)

