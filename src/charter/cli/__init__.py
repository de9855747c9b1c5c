"""The ``charter`` command line (typer); every command calls a library function."""
