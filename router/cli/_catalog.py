"""``policy-router catalog …``: validate, import, render and diff the declared catalog."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Validate, import, render and diff the declared catalog.", no_args_is_help=True
)
