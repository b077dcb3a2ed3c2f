"""Layouts, graphs, Parquet/manifest schemas, config schema and label maps. Pure data: nothing heavy imported."""
