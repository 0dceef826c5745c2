"""The publisher's brand on every page: name, logo and one colour.

The colour is checked and turned into a small palette so that text stays readable
(WCAG AA, 4.5:1) whatever colour a publisher picks: text on a brand-coloured button is
white or near-black, and links use the brand colour darkened (on light surfaces) or
lightened (on dark surfaces) until they reach the contrast.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

LIGHT_SURFACE = "#ffffff"
DARK_SURFACE = "#14181f"
INK_ON_BRAND_DARK = "#111418"
AA_CONTRAST = 4.5


def _channels(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def luminance(color: str) -> float:
    """Relative luminance of an ``#rrggbb`` colour (WCAG 2.x definition)."""

    def lin(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else float(((s + 0.055) / 1.055) ** 2.4)

    r, g, b = _channels(color)
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours, 1.0 to 21.0."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix_until(color: str, toward: str, against: str) -> str:
    """``color`` mixed step by step toward ``toward`` until it contrasts with ``against``."""
    base, target = _channels(color), _channels(toward)
    for step in range(21):
        t = step / 20
        mixed = _hex(tuple(c + (d - c) * t for c, d in zip(base, target, strict=True)))  # type: ignore[arg-type]
        if contrast(mixed, against) >= AA_CONTRAST:
            return mixed
    return toward


@dataclass(frozen=True, slots=True)
class Brand:
    name: str
    color: str
    logo_url: str | None

    @property
    def on_color(self) -> str:
        """Text colour on a brand-coloured background (white unless that is unreadable)."""
        if contrast(self.color, "#ffffff") >= AA_CONTRAST:
            return "#ffffff"
        return INK_ON_BRAND_DARK

    @property
    def ink_light(self) -> str:
        """The brand colour as text on light surfaces, darkened to 4.5:1 if needed."""
        return _mix_until(self.color, "#000000", LIGHT_SURFACE)

    @property
    def ink_dark(self) -> str:
        """The brand colour as text on dark surfaces, lightened to 4.5:1 if needed."""
        return _mix_until(self.color, "#ffffff", DARK_SURFACE)

    @property
    def logo_origin(self) -> str | None:
        """The origin the logo loads from, for the page's Content-Security-Policy."""
        if self.logo_url is None or self.logo_url.startswith("/"):
            return None
        parts = urlsplit(self.logo_url)
        return f"{parts.scheme}://{parts.netloc}"

    def css_variables(self) -> str:
        """The ``:root`` custom properties the stylesheet reads."""
        return (
            f":root{{--brand:{self.color};--on-brand:{self.on_color};"
            f"--brand-ink:{self.ink_light};--brand-ink-dark:{self.ink_dark}}}"
        )
