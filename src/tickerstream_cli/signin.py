"""`tickerstream sign-in`: a person's tokens from the user client (USER_PASSWORD_AUTH), TOTP when enrolled.

    TOKEN=$(tickerstream sign-in --stack-name tickerstream --username me@example.com)

The password comes from $TICKERSTREAM_PASSWORD or a prompt (never an option: it would land in shell
history). The access token printed carries tickerstream/quotes.read (added by the PreTokenGeneration
trigger) and the tickerstream:tier claim; --id-token prints the ID token instead.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from typing import Any

from tickerstream_cli.token import TokenError, resolve_settings

PASSWORD_ENV = "TICKERSTREAM_PASSWORD"


def sign_in(cognito: Any, client_id: str, username: str, password: str,
            mfa_code: Callable[[], str] = lambda: input("TOTP code: ")) -> dict[str, Any]:
    """The AuthenticationResult of a password sign-in, answering a TOTP challenge if the user has MFA."""
    try:
        response = cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        if response.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            response = cognito.respond_to_auth_challenge(
                ClientId=client_id,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=response["Session"],
                ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": mfa_code().strip()},
            )
    except Exception as exc:  # noqa: BLE001 - NotAuthorizedException, UserLambdaValidationException …
        error = getattr(exc, "response", {}).get("Error", {})
        message = error.get("Message") or str(exc)
        raise TokenError(f"sign-in failed: {error.get('Code', type(exc).__name__)}: {message}") from None
    if "AuthenticationResult" not in response:
        challenge = response.get("ChallengeName", "unknown")
        raise TokenError(f"sign-in needs the {challenge} challenge, which this command does not answer "
                         "(e.g. NEW_PASSWORD_REQUIRED: set a password with admin-set-user-password)")
    return response["AuthenticationResult"]


def _sign_in_command(args: argparse.Namespace) -> int:
    try:
        settings = resolve_settings(args)
        client_id = args.client_id or settings.user_client_id
        if not client_id:
            raise TokenError("no user client id: give --stack-name or --client-id")
        password = os.environ.get(PASSWORD_ENV) or getpass.getpass(f"Password for {args.username}: ")
        import boto3

        # The local stack's Cognito endpoint, not moto's: it runs the template's triggers and signs with
        # the stack's key (moto's own tokens are refused by the local API). An explicit --endpoint-url wins.
        endpoint = getattr(args, "endpoint_url", None) or settings.cognito_endpoint_url or settings.aws_endpoint_url
        cognito = boto3.client("cognito-idp", region_name=settings.region, endpoint_url=endpoint)
        result = sign_in(cognito, client_id, args.username, password)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result["IdToken"] if args.id_token else result["AccessToken"])
    return 0


def add_sign_in_command(subparsers: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    parser = subparsers.add_parser("sign-in", help="sign a user in and print their access token",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(parser)
    parser.add_argument("--username", required=True, help="the user's e-mail address")
    parser.add_argument("--client-id", help="user client id (default: from the stack or local file)")
    parser.add_argument("--id-token", action="store_true", help="print the ID token instead")
    parser.set_defaults(run=_sign_in_command, func=_sign_in_command)
