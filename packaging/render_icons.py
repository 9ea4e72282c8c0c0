"""Render the application icon (resources/icons/ckpt-browser.svg) to the PNG sizes beside it.

Desktops and file managers want PNGs at fixed sizes next to the SVG, and the window icon looks
sharper from a PNG drawn for its size. Run this after editing the SVG and commit the PNGs:

    python packaging/render_icons.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SVG_NAME = "ckpt-browser.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def png_name(size: int) -> str:
    return f"ckpt-browser-{size}.png"


def render(svg: Path, out_dir: Path, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Draw `svg` into a transparent square PNG of each size; return the files written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: {svg}: not a valid SVG")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = out_dir / png_name(size)
        if not image.save(str(out), "PNG"):
            raise SystemExit(f"error: {out}: could not write the PNG")
        written.append(out)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ICONS, help="folder for the PNGs")
    args = parser.parse_args()
    for path in render(ICONS / SVG_NAME, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
