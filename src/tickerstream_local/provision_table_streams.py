"""DynamoDB tables' streams on the local stack: a table whose template gives a StreamSpecification gets
its stream on moto, and `!GetAtt Table.StreamArn` resolves (a `Type: DynamoDB` event's Stream), as
CloudFormation does. It extends the table provisioner of stack.py rather than replacing it.
"""

from __future__ import annotations

from typing import Any

from tickerstream_local.stack import PROVISIONERS, Deployment, provisioner

_create_table = PROVISIONERS["AWS::DynamoDB::Table"]


def _table_with_stream(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    _create_table(deployment, logical_id, props)
    view_type = (props.get("StreamSpecification") or {}).get("StreamViewType")
    if not view_type:
        return
    name = deployment.ctx.refs[logical_id]
    described = deployment.client("dynamodb").update_table(
        TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type})["TableDescription"]
    attributes = {**deployment.ctx.attributes.get(logical_id, {}), "StreamArn": described["LatestStreamArn"]}
    deployment.record(logical_id, name, physical=deployment.physical.get(logical_id), **attributes)


if not getattr(_create_table, "adds_streams", False):
    _table_with_stream.adds_streams = True  # type: ignore[attr-defined]
    provisioner("AWS::DynamoDB::Table")(_table_with_stream)
