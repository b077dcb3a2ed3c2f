"""The per-class quality report: summaries, plots, thumbnails, HTML."""
