"""Field markers shared by the config schemas.

EXECUTION: an execution setting — where or how a stage runs (device, threads, worker processes, batch sizes) or a
model file's path (the file enters cache keys by its content hash) — never part of a cache key, so moving a build
to a GPU or another weights path reuses its results (`BuildConfig.key_value`)."""
EXECUTION = {"execution": True}
