"""Renderers: a `Report` as text, SVG/HTML pictures and SARIF."""
