from __future__ import annotations

import pytest

from nasforge.task import Task, load_task


@pytest.fixture(scope="session")
def mnist1d() -> Task:
    return load_task("mnist1d")
