"""The command line and daemon: the outer edge of the engine."""
