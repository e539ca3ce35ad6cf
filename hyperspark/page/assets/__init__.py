"""The search page's script and style, inlined into every page (package data)."""
