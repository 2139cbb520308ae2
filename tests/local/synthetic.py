"""Fixtures for the local stack's own runtimes: small synthetic templates, handlers, provisioners.

The synthetic templates use the same resource types and property shapes as template.yaml, so the
runtimes are exercised exactly as they are on the real template; provisioners for types that
other modules (provision_lake/provision_api) own are registered here only when those are missing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tickerstream_local import stack
from tickerstream_local.stack import Deployment

STREAM_ARN = {"Fn::GetAtt": ["Source", "Arn"]}


def ensure_provisioners() -> None:
    stack._load_provisioners()

    def bucket(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("BucketName") or deployment.name_for(logical_id).lower()
        deployment.client("s3").create_bucket(Bucket=name)
        deployment.record(logical_id, name, Arn=f"arn:aws:s3:::{name}")

    def delivery_stream(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("DeliveryStreamName") or deployment.name_for(logical_id)
        arn = f"arn:aws:firehose:{deployment.ctx.region}:{deployment.ctx.account_id}:deliverystream/{name}"
        deployment.record(logical_id, name, Arn=arn)

    stack.PROVISIONERS.setdefault("AWS::S3::Bucket", bucket)
    stack.PROVISIONERS.setdefault("AWS::KinesisFirehose::DeliveryStream", delivery_stream)


def firehose_template(destination: dict[str, Any], *, shards: int = 1, with_lambda: bool = True) -> dict[str, Any]:
    """Kinesis stream -> delivery stream (optionally with a Lambda processor) -> S3 bucket."""
    dest = {"BucketARN": {"Fn::GetAtt": ["Lake", "Arn"]}, **destination}
    if with_lambda:
        dest.setdefault(
            "ProcessingConfiguration",
            {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "Lambda",
                        "Parameters": [
                            {"ParameterName": "LambdaArn", "ParameterValue": {"Fn::GetAtt": ["Transform", "Arn"]}},
                            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "0"},
                        ],
                    }
                ],
            },
        )
    return {
        "Parameters": {},
        "Resources": {
            "Source": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": shards}},
            "Lake": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "Transform": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "app.handler", "CodeUri": "unused/"},
            },
            "Hose": {
                "Type": "AWS::KinesisFirehose::DeliveryStream",
                "Properties": {
                    "DeliveryStreamType": "KinesisStreamAsSource",
                    "KinesisStreamSourceConfiguration": {"KinesisStreamARN": STREAM_ARN, "RoleARN": "arn:aws:iam::123456789012:role/x"},
                    "ExtendedS3DestinationConfiguration": dest,
                },
            },
        },
    }


def json_transform(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A transform like the lake's: JSON lines out, `ticker` as partition key; DROP/FAIL markers."""
    out = []
    for record in event["records"]:
        payload = json.loads(base64.b64decode(record["data"]))
        if payload.get("mode") == "drop":
            out.append({"recordId": record["recordId"], "result": "Dropped", "data": record["data"]})
            continue
        if payload.get("mode") == "fail":
            out.append({"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]})
            continue
        line = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        out.append(
            {
                "recordId": record["recordId"],
                "result": "Ok",
                "data": base64.b64encode(line).decode(),
                "metadata": {"partitionKeys": {"ticker": payload.get("ticker", "NONE")}},
            }
        )
    return {"records": out}
