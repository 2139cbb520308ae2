"""`tickerstream board`: the live board.

    tickerstream board open                           # the running local stack's board, in the browser
    tickerstream board open --stack-name tickerstream # the deployed board (CloudFront)
    tickerstream board publish --stack-name tickerstream

`publish` uploads board/ and a config.json for the deployed stack (its API, WebSocket API, user pool
and user client, from the stack's outputs; its sectors from the stack's LakeSectors parameter) to the
stack's private board bucket, which CloudFront serves. Without --stack-name it publishes to the running
local stack's bucket (on its moto), with the local stack's own config.json.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import urllib.request
import webbrowser
from pathlib import Path
from typing import Any

from tickerstream_cli.config import ConfigError, Target, local_stack, local_stack_file, resolve, stack_outputs
from tickerstream_local.board import BOARD_DIR, CONTENT_TYPES, SECTORS_PARAMETER
from tickerstream_local.template import parameter_defaults

# The page and its config change with every publish: browsers and CloudFront revalidate them each time.
# The other files are cached a little (CloudFront's CachingOptimized policy honours Cache-Control).
NO_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=300"
REQUIRED_OUTPUTS = ("BoardBucketName", "BoardUrl", "ApiUrl", "WebSocketUrl", "UserPoolId", "UserClientId")


def deployed_config(outputs: dict[str, str], sectors: list[str], region: str) -> dict[str, Any]:
    """config.json of a deployed stack: what the page needs, from its outputs (Cognito's regional endpoint)."""
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise ConfigError(f"the stack has no output {', '.join(missing)}: deploy the current template.yaml first")
    return {
        "api_url": outputs["ApiUrl"],
        "websocket_url": outputs["WebSocketUrl"],
        "region": region,
        "user_pool_id": outputs["UserPoolId"],
        "user_client_id": outputs["UserClientId"],
        "cognito_endpoint_url": f"https://cognito-idp.{region}.amazonaws.com/",
        "sectors": sectors,
    }


def board_files(root: Path = BOARD_DIR) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file() and not path.name.startswith("."))


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def publish(s3: Any, bucket: str, config: dict[str, Any], root: Path = BOARD_DIR) -> list[str]:
    """Upload the board's files and config.json to `bucket`; the keys written, config.json last."""
    written = []
    for path in board_files(root):
        key = path.relative_to(root).as_posix()
        cache = NO_CACHE if path.suffix == ".html" else ASSET_CACHE
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type(path),
                      CacheControl=cache)
        written.append(key)
    # Last: a page of the new files never reads a config the old files did not know.
    s3.put_object(Bucket=bucket, Key="config.json", Body=(json.dumps(config, indent=2) + "\n").encode(),
                  ContentType="application/json", CacheControl=NO_CACHE)
    written.append("config.json")
    return written


def _stack_sectors(stack_name: str, target: Target) -> list[str]:
    """The deployed stack's sector list (its LakeSectors parameter), else the template's default."""
    cloudformation = target.client("cloudformation")
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        given = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters") or []}
    except Exception as exc:  # noqa: BLE001 - surfaced as a usage error
        raise ConfigError(f"cannot read stack {stack_name!r}: {exc}") from None
    value = given.get(SECTORS_PARAMETER) or parameter_defaults()[SECTORS_PARAMETER]
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item.strip()]


def _local_board_url() -> str:
    local = local_stack()
    if not local or not local.get("board_url"):
        raise ConfigError(f"no running local stack with a board ({local_stack_file()}): start it with `make local`, "
                          "or pass --stack-name of a deployed stack")
    return str(local["board_url"])


def _open_command(args: argparse.Namespace) -> int:
    if args.stack_name:
        url = stack_outputs(args.stack_name, args.region, args.endpoint_url).get("BoardUrl")
        if not url:
            raise ConfigError(f"stack {args.stack_name!r} has no output 'BoardUrl': deploy the current template.yaml")
    else:
        url = _local_board_url()
    print(url)
    if not args.no_browser and not webbrowser.open(url):
        print("no browser could be started here: open the URL above yourself", file=sys.stderr)
    return 0


def _publish_command(args: argparse.Namespace) -> int:
    target = resolve(explicit=None, output_key="BoardBucketName", logical_id="BoardBucket",
                     stack_name=args.stack_name, region=args.region, endpoint_url=args.endpoint_url)
    if args.stack_name:
        outputs = stack_outputs(args.stack_name, args.region, args.endpoint_url)
        region = target.client("s3").meta.region_name
        config = deployed_config(outputs, _stack_sectors(args.stack_name, target),
                                 region)
        url = outputs["BoardUrl"]
    else:
        url = _local_board_url()
        with urllib.request.urlopen(url + "config.json", timeout=10) as answer:  # what the stack serves
            config = json.loads(answer.read())
    written = publish(target.client("s3"), target.value, config)
    print(f"published {len(written)} files to s3://{target.value}/ ({target.source}); the board: {url}")
    return 0


def add_board_command(subparsers: Any) -> None:
    board = subparsers.add_parser("board", help="open or publish the live board", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = board.add_subparsers(dest="board_command", required=True)
    for name, run, help_text in (("open", _open_command, "open the board in the browser (prints its URL)"),
                                 ("publish", _publish_command, "upload board/ and its config.json to the stack's bucket")):
        parser = actions.add_parser(name, help=help_text)
        parser.add_argument("--stack-name", help="a deployed stack (default: the running local stack)")
        parser.add_argument("--region", help="AWS region of the stack")
        parser.add_argument("--endpoint-url", help="AWS endpoint (e.g. a moto server)")
        if name == "open":
            parser.add_argument("--no-browser", action="store_true", help="only print the URL")
        parser.set_defaults(run=run, func=run)
