"""Helpers shared by the visualizations (keras-vis `vis.utils`)."""
