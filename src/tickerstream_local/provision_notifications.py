"""SNS topics, their subscriptions and policies, created on the local stack's moto as CloudFormation would."""

from __future__ import annotations

from typing import Any

from tickerstream_local.stack import Deployment, provisioner

# Topic properties that are SNS attributes under the same name (CreateTopic's Attributes).
_TOPIC_ATTRIBUTES = ("KmsMasterKeyId", "DisplayName", "FifoTopic", "ContentBasedDeduplication", "SignatureVersion")


@provisioner("AWS::SNS::Topic")
def _sns_topic(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    name = props.get("TopicName") or deployment.name_for(logical_id)
    attributes = {key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
                  for key in _TOPIC_ATTRIBUTES if key in props}
    sns = deployment.client("sns")
    arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for subscription in props.get("Subscription", []):
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    deployment.record(logical_id, arn, physical=name, TopicName=name, TopicArn=arn)


@provisioner("AWS::SNS::Subscription")
def _sns_subscription(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    request: dict[str, Any] = {
        "TopicArn": props["TopicArn"],
        "Protocol": props["Protocol"],
        "Endpoint": props["Endpoint"],
        "ReturnSubscriptionArn": True,
    }
    attributes = {key: props[key] if isinstance(props[key], str) else _json(props[key])
                  for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
                  if key in props}
    if attributes:
        request["Attributes"] = attributes
    arn = deployment.client("sns").subscribe(**request)["SubscriptionArn"]
    deployment.record(logical_id, arn)


@provisioner("AWS::SNS::TopicPolicy")
def _sns_topic_policy(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    sns = deployment.client("sns")
    for topic_arn in props.get("Topics", []):
        sns.set_topic_attributes(
            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=_json(props["PolicyDocument"])
        )
    deployment.record(logical_id, deployment.name_for(logical_id))


def _json(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)
