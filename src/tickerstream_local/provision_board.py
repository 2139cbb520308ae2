"""The board's deploy hosting (CloudFront in front of a private bucket) as the local stack records it.

The bucket itself is an ordinary S3 bucket on moto (provision_lake.py); CloudFront has no local
meaning - locally the REST API server serves the board (board.py) - so its resources are recorded with
the ids and attributes CloudFormation would give them, for the references to resolve.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tickerstream_local.stack import Deployment, provisioner


def _cloudfront_id(deployment: Deployment, logical_id: str) -> str:
    # CloudFront ids are 13-14 upper-case letters and digits; derived from the name, stable per stack.
    digest = hashlib.sha256(deployment.name_for(logical_id).encode()).hexdigest().upper()
    return "E" + digest[:13]


@provisioner("AWS::CloudFront::Distribution")
def _distribution(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    distribution_id = _cloudfront_id(deployment, logical_id)
    domain = f"d{distribution_id.lower()[1:]}.cloudfront.net"
    deployment.record(logical_id, distribution_id, Id=distribution_id, DomainName=domain)


@provisioner("AWS::CloudFront::OriginAccessControl")
def _origin_access_control(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    control_id = _cloudfront_id(deployment, logical_id)
    deployment.record(logical_id, control_id, Id=control_id)


@provisioner("AWS::CloudFront::ResponseHeadersPolicy")
def _response_headers_policy(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    policy_id = _cloudfront_id(deployment, logical_id)
    deployment.record(logical_id, policy_id, Id=policy_id)
