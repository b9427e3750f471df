"""Draw the app icons as PNGs with the standard library only (no image tools, nothing downloaded).

The mark: a white video camera with a medical cross on the brand teal, as in public/icons/favicon.svg.
Run: python3 web/scripts/make_icons.py   (writes web/public/icons/*.png)
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

TEAL = (15, 95, 102)
WHITE = (255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "public" / "icons"
SS = 4  # supersampling per axis, for smooth edges


def inside_round_rect(x: float, y: float, x0: float, y0: float, x1: float, y1: float, r: float) -> bool:
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def inside_triangle(x: float, y: float, a: tuple, b: tuple, c: tuple) -> bool:
    def side(p, q):
        return (x - q[0]) * (p[1] - q[1]) - (p[0] - q[0]) * (y - q[1])
    d1, d2, d3 = side(a, b), side(b, c), side(c, a)
    return not ((d1 < 0 or d2 < 0 or d3 < 0) and (d1 > 0 or d2 > 0 or d3 > 0))


def color_at(u: float, v: float, *, maskable: bool) -> tuple[int, int, int, int]:
    """Colour at (u, v) in the 64-unit design space."""
    if maskable:  # full-bleed background, mark shrunk into the safe zone
        u, v = (u - 32) / 0.72 + 32, (v - 32) / 0.72 + 32
    elif not inside_round_rect(u, v, 0, 0, 64, 64, 16):
        return (0, 0, 0, 0)
    cross = (abs(u - 26) <= 2 and 25 <= v <= 39) or (abs(v - 32) <= 2 and 19 <= u <= 33)
    if inside_round_rect(u, v, 12, 20, 40, 44, 6) and not cross:
        return (*WHITE, 255)
    if inside_triangle(u, v, (42, 28), (52, 22), (52, 42)) or inside_triangle(u, v, (42, 28), (52, 42), (42, 36)):
        return (*WHITE, 255)
    return (*TEAL, 255)


def render(size: int, *, maskable: bool = False) -> bytes:
    rows = []
    scale = 64 / (size * SS)
    for py in range(size):
        row = bytearray([0])
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(SS):
                for sx in range(SS):
                    r, g, b, a = color_at((px * SS + sx + 0.5) * scale, (py * SS + sy + 0.5) * scale, maskable=maskable)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            alpha = acc[3] / (SS * SS)
            row += bytes([round(acc[i] / acc[3]) if acc[3] else 0 for i in range(3)] + [round(alpha)])
        rows.append(bytes(row))
    return png(size, b"".join(rows))


def png(size: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, maskable in (("icon-192.png", 192, False), ("icon-512.png", 512, False),
                                 ("maskable-512.png", 512, True), ("apple-touch-icon.png", 180, True)):
        (OUT / name).write_bytes(render(size, maskable=maskable))
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
