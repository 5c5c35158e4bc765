"""Renderers of a run: console (rich) now; json and html read the same Session."""
