"""The ``policy-router`` command. Sub-commands live in one module each; none of the modules
imported here imports litellm, so commands that do not forward a request start fast."""

from __future__ import annotations

import typer

from router.cli import _audit, _catalog, _common, _inspect, _prefs, _route, _serve

app = _common.typer_app(
    "Route LLM calls only where the privacy policy allows; audit every decision.",
    name="policy-router",
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(show: bool) -> None:
    if show:
        _common.out.print(versions(), markup=False)
        raise typer.Exit


def versions() -> str:
    """``policy-router 0.1.0, catalog 2025-11@d4aa4cb69e12, litellm 1.104.0``: litellm's from
    its package metadata (importing it takes seconds)."""
    from importlib.metadata import version

    from router._config.settings import Settings
    from router._core.catalog_load import load_catalog

    with _common.one_line_errors():
        catalog = load_catalog(Settings().catalog).label
    return (
        f"policy-router {version('policy-router')}, catalog {catalog}, litellm {version('litellm')}"
    )


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
    _show_version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the versions of policy-router, its catalog and litellm, and exit.",
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
