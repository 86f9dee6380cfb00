"""The ``paperlens`` command line: a thin Typer front end over :class:`paperlens.core.PaperLens`."""
