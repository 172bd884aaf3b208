"""I/O at the edges: processes, git, the Docker engine, the state directory."""
