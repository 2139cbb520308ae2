"""Provision template.yaml's resources on a moto endpoint (or in-process moto) and keep their names.

Each resource type has a provisioner; resources are created in dependency order (a resource whose
properties refer to one not yet created waits for the next pass). Types with no local meaning
(queue policies, layers) are recorded but not created; log groups are recorded with the name and ARN
CloudFormation would give them (function roles name them), and not created either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from tickerstream_local.template import parameter_values, sam_template
from tickerstream_local.intrinsics import Context, resolve

Provisioner = Callable[["Deployment", str, dict[str, Any]], None]
PROVISIONERS: dict[str, Provisioner] = {}
# Types that exist only as configuration here: their settings are read by the local runtimes.
CONFIGURATION_ONLY = {
    "AWS::SQS::QueuePolicy",
    "AWS::Serverless::LayerVersion",
}


def provisioner(resource_type: str) -> Callable[[Provisioner], Provisioner]:
    def register(func: Provisioner) -> Provisioner:
        PROVISIONERS[resource_type] = func
        return func

    return register


@dataclass
class Deployment:
    template: dict[str, Any]
    ctx: Context
    session: boto3.Session
    endpoint_url: str | None = None
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> physical name (for people)
    # What Lambda's environment adds to every function here: the local endpoint and region.
    runtime_environment: dict[str, str] = field(default_factory=dict)
    # User pool id -> the key this local stack signs that pool's tokens with (cognito.SigningKey).
    signing_keys: dict[str, Any] = field(default_factory=dict, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]

    def name_for(self, logical_id: str) -> str:
        return f"{self.ctx.stack_name}-{logical_id}"

    def resolve(self, value: Any) -> Any:
        return resolve(value, self.ctx)

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resolve(self.template["Resources"][logical_id].get("Properties", {}))

    def record(self, logical_id: str, ref: Any, physical: str | None = None, **attributes: Any) -> None:
        self.ctx.refs[logical_id] = ref
        self.ctx.attributes[logical_id] = attributes
        self.physical[logical_id] = physical or str(ref)

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The function's environment variables as Lambda would set them (Globals merged in)."""
        return {**self.runtime_environment, **template_environment(self.template, logical_id, self.ctx)}


def template_environment(template: dict[str, Any], logical_id: str, ctx: Context) -> dict[str, str]:
    """A function's Environment.Variables from the template, Globals merged in, resolved with `ctx`."""
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    own_env = template["Resources"][logical_id]["Properties"].get("Environment", {})
    merged = {**globals_env.get("Variables", {}), **own_env.get("Variables", {})}
    return {key: str(value) for key, value in resolve(merged, ctx).items()}


def _load_provisioners() -> None:
    """Import every tickerstream_local.provision_* module; each registers its resource types."""
    import importlib
    import pkgutil

    import tickerstream_local

    for module in pkgutil.iter_modules(tickerstream_local.__path__):
        if module.name.startswith("provision_"):
            importlib.import_module(f"tickerstream_local.{module.name}")


def deploy(
    session: boto3.Session,
    *,
    endpoint_url: str | None = None,
    template: dict[str, Any] | None = None,
    stack_name: str = "tickerstream-local",
    parameter_overrides: dict[str, Any] | None = None,
) -> Deployment:
    _load_provisioners()
    template = template or sam_template()
    parameters = parameter_values(template, parameter_overrides)
    ctx = Context(
        parameters=parameters,
        conditions=template.get("Conditions", {}),
        stack_name=stack_name,
        region=session.region_name or "us-east-1",
    )
    deployment = Deployment(template, ctx, session, endpoint_url)
    deployment.runtime_environment = {"AWS_REGION": ctx.region, "AWS_DEFAULT_REGION": ctx.region}
    if endpoint_url:
        deployment.runtime_environment["AWS_ENDPOINT_URL"] = endpoint_url
    pending = dict(template["Resources"])
    while pending:
        progressed = False
        for logical_id, resource in list(pending.items()):
            resource_type = resource["Type"]
            if resource_type in CONFIGURATION_ONLY:
                deployment.record(logical_id, deployment.name_for(logical_id))
                del pending[logical_id]
                progressed = True
                continue
            try:
                properties = deployment.properties(logical_id)
            except KeyError:
                continue  # refers to a resource created in a later pass
            create = PROVISIONERS.get(resource_type)
            if create is None:
                raise NotImplementedError(f"{logical_id}: no local provisioner for {resource_type}")
            create(deployment, logical_id, properties)
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise RuntimeError(f"cannot resolve references of: {', '.join(sorted(pending))}")
    return deployment


def _arn(deployment: Deployment, service: str, resource: str) -> str:
    ctx = deployment.ctx
    return f"arn:aws:{service}:{ctx.region}:{ctx.account_id}:{resource}"


@provisioner("AWS::Kinesis::Stream")
def _kinesis_stream(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    kinesis = deployment.client("kinesis")
    name = props.get("Name") or deployment.name_for(logical_id)
    mode = props.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    if mode == "ON_DEMAND":
        kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    else:
        kinesis.create_stream(StreamName=name, ShardCount=int(props.get("ShardCount", 1)))
    for _ in range(100):
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.05)
    if "RetentionPeriodHours" in props and int(props["RetentionPeriodHours"]) > 24:
        kinesis.increase_stream_retention_period(
            StreamName=name, RetentionPeriodHours=int(props["RetentionPeriodHours"])
        )
    deployment.record(logical_id, name, Arn=summary["StreamARN"])


@provisioner("AWS::DynamoDB::Table")
def _dynamodb_table(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    name = props.get("TableName") or deployment.name_for(logical_id)
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    table = deployment.client("dynamodb").create_table(**request)["TableDescription"]
    deployment.record(logical_id, name, Arn=table["TableArn"])


@provisioner("AWS::SQS::Queue")
def _sqs_queue(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    name = props.get("QueueName") or deployment.name_for(logical_id)
    attributes = {
        key: str(props[key])
        for key in ("MessageRetentionPeriod", "VisibilityTimeout", "KmsMasterKeyId", "DelaySeconds")
        if key in props
    }
    url = deployment.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    deployment.record(logical_id, url, physical=name, Arn=_arn(deployment, "sqs", name), QueueName=name)


@provisioner("AWS::Serverless::Function")
def _function(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    # Functions run in-process (see functions.py); here they only get their names.
    name = props.get("FunctionName") or deployment.name_for(logical_id)
    deployment.record(logical_id, name, Arn=_arn(deployment, "lambda", f"function:{name}"))


@provisioner("AWS::Logs::LogGroup")
def _log_group(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    # Functions here log to the terminal; the group's name and ARN are kept for the references to it.
    name = props.get("LogGroupName") or deployment.name_for(logical_id)
    deployment.record(logical_id, name, Arn=_arn(deployment, "logs", f"log-group:{name}:*"))
