"""The `tickerstream` command: produce demo quotes, run the local demo, and more."""

from __future__ import annotations

import argparse
import sys

from tickerstream_cli.config import ConfigError, explain


def build_parser() -> argparse.ArgumentParser:
    from tickerstream_cli.alarms import add_alarms_command
    from tickerstream_cli.board import add_board_command
    from tickerstream_cli.cost import add_cost_command
    from tickerstream_cli.demo import add_demo_command
    from tickerstream_cli.invoke import add_invoke_command
    from tickerstream_cli.lake import add_lake_commands
    from tickerstream_cli.producer import add_produce_command
    from tickerstream_cli.redrive import add_redrive_command
    from tickerstream_cli.signin import add_sign_in_command
    from tickerstream_cli.token import add_settings_options, add_token_commands
    from tickerstream_local.runner import add_local_commands

    parser = argparse.ArgumentParser(prog="tickerstream", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_produce_command(subparsers)
    add_demo_command(subparsers)
    add_invoke_command(subparsers)
    add_local_commands(subparsers)
    add_token_commands(subparsers)
    add_sign_in_command(subparsers, add_settings_options)
    add_redrive_command(subparsers)
    add_cost_command(subparsers)
    add_lake_commands(subparsers)
    add_alarms_command(subparsers)
    add_board_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = getattr(args, "run", None) or args.func
        return run(args)
    except ConfigError as exc:
        print(f"tickerstream {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # botocore's "cannot even send the request" errors (no credentials, no region) are usage errors
        # wherever they surface; anything else is a bug and keeps its traceback.
        usage = explain(exc)
        if usage is None:
            raise
        print(f"tickerstream {args.command}: {usage}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
