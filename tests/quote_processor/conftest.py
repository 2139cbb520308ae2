from __future__ import annotations

import pytest

from support.processor import Table


@pytest.fixture
def table(deployment) -> Table:
    return Table(deployment)
