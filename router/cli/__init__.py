"""The ``policy-router`` command. Sub-commands live in one module each; none of the modules
imported here imports litellm, so commands that do not forward a request start fast."""

from __future__ import annotations

import typer

from router.cli import _catalog

app = typer.Typer(
    name="policy-router",
    help="Route LLM calls only where the privacy policy allows; audit every decision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_catalog.app, name="catalog")


def main() -> None:
    app()
