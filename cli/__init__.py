"""The ``reid`` command line (installed as the package ``reid_cli``): thin typer commands over ``reid``."""
