"""The producer: job files, plans, canvases, and the library functions the CLI calls."""
