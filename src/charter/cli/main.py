"""The ``charter`` command: a thin shell over the library.

Errors Charter raises on purpose print as one line on stderr and exit
non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import click
import typer

import charter
from charter.cli import collective as collective_cli
from charter.cli import constitution, ledger, models
from charter.cli import eval as eval_cli
from charter.cli import pretrain as pretrain_cli
from charter.cli import reward as reward_cli
from charter.cli import train as train_cli
from charter.cli._common import printable
from charter.cli.export import export
from charter.cli.plan import plan
from charter.cli.report import report
from charter.cli.run import run
from charter.cli.serve import serve
from charter.errors import CharterError

app = typer.Typer(
    help="Charter: constitutions and people's wishes, turned into alignment data and evals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(constitution.app, name="constitution")
app.add_typer(models.app, name="models")
app.add_typer(ledger.app, name="ledger")
app.add_typer(reward_cli.app, name="reward")
app.add_typer(collective_cli.app, name="collective")
app.add_typer(eval_cli.app, name="eval")
app.add_typer(train_cli.app, name="train")
app.add_typer(pretrain_cli.app, name="pretrain")
app.command()(run)
app.command()(plan)
app.command()(serve)
app.command()(report)
app.command()(export)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"charter {charter.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    _state["debug"] = debug


def main() -> None:
    """Console-script entry point."""
    try:
        # Without standalone mode click returns (not raises) the code of typer.Exit.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except CharterError as exc:
        if _state["debug"]:
            raise
        print(f"error: {printable(exc, one_line=True)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (click.exceptions.ClickException, typer.TyperException) as exc:
        # Usage errors (a missing argument, an unknown option) are one line, exit 2.
        where = f" (see `{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) else ""
        message = printable(exc.format_message(), one_line=True)
        print(f"error: {message}{where}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume.", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)


if __name__ == "__main__":
    main()
