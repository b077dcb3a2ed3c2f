"""One module per stage; each starts with its contract (inputs, outputs, params, resources)."""
