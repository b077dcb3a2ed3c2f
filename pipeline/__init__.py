"""skelforge pipeline runtime: DAG, content-addressed cache, manifest, Dask runner, CLI."""
__version__ = "0.1.0"
