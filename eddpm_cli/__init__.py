"""eddpm command-line interface: the Typer app and file/stream I/O (no model math here)."""
