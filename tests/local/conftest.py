"""Fixtures for the local stack's tests (helpers live in local/synthetic.py)."""

from __future__ import annotations

from typing import Any

import pytest

from local.synthetic import ensure_provisioners
from tickerstream_local.stack import Deployment, deploy


@pytest.fixture
def deploy_synthetic(aws):
    ensure_provisioners()

    count = iter(range(1000))

    def make(template: dict[str, Any], **kwargs: Any) -> Deployment:
        kwargs.setdefault("stack_name", f"synthetic{next(count)}")
        return deploy(aws, template=template, **kwargs)

    return make
