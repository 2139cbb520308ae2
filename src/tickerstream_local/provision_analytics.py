"""Local provisioners for the candles and alerts resources (issue 10): the Secrets Manager secret.

The alerts topic and its key are covered by provision_notifications and provision_lake; the secret is
created on moto with the template's SecretString (the webhook placeholder), and its Ref is its ARN, as
CloudFormation's is. `tickerstream demo` then points it at a local webhook receiver.
"""

from __future__ import annotations

from typing import Any

from tickerstream_local.stack import PROVISIONERS, Deployment, provisioner


def _secret(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    name = props.get("Name") or deployment.name_for(logical_id)
    request: dict[str, Any] = {"Name": name, "Description": str(props.get("Description", ""))}
    if "SecretString" in props:
        request["SecretString"] = str(props["SecretString"])
    arn = deployment.client("secretsmanager").create_secret(**request)["ARN"]
    deployment.record(logical_id, arn, physical=name, Id=arn)


if "AWS::SecretsManager::Secret" not in PROVISIONERS:
    provisioner("AWS::SecretsManager::Secret")(_secret)


def point_secret_at(deployment: Deployment, logical_id: str, url: str) -> None:
    """Put ``{"url": url}`` as the secret's value (what an operator does with put-secret-value)."""
    import json

    deployment.client("secretsmanager").put_secret_value(
        SecretId=deployment.ctx.refs[logical_id], SecretString=json.dumps({"url": url})
    )
