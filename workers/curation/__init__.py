"""Curation: clip quality scores and filter rules."""
