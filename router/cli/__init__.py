"""The ``policy-router`` command. Sub-commands live in one module each; none of the modules
imported here imports litellm, so commands that do not forward a request start fast."""

from __future__ import annotations

import typer

from router.cli import _audit, _catalog, _common, _inspect, _prefs, _route, _serve

app = typer.Typer(
    name="policy-router",
    help="Route LLM calls only where the privacy policy allows; audit every decision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
) -> None:
    """Route LLM calls only where the privacy policy allows; audit every decision."""
    _common.DEBUG.set(debug)


app.command()(_inspect.models)
app.command()(_inspect.explain)
app.command()(_route.route)
app.command()(_serve.serve)
app.add_typer(_prefs.app, name="prefs")
app.add_typer(_catalog.app, name="catalog")
app.add_typer(_audit.app, name="audit")


def main() -> None:
    app()
