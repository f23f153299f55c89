"""Fixtures shared by the test modules; plain helpers are in support.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import AUTH, TOKEN

from storemon.service.app import create_app
from storemon.service.core import Settings

STATUS_PLANS = Path("work") / "status.dbt"

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
else:
    # `pytest --hypothesis-profile=long` (tests/test_differential.py): many more examples.
    settings.register_profile("long", max_examples=200, deadline=None)


@pytest.fixture(scope="session", autouse=True)
def session_plan_cache(tmp_path_factory) -> Iterator[None]:
    """The export's plans (docs/cli.md, The cache folder) go to a folder of the test session
    (of each worker), never to the user's cache. Tests share it: a plan replays exactly what
    dbt builds (test_plan.py checks that on its own folders), so only the first export of each
    shape runs dbt, which is most of the suite's time otherwise."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOREMON_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def plan_cache(tmp_path_factory, monkeypatch) -> Path:
    """A cache folder of the test's own, for tests of the plans themselves: its first export
    runs dbt and records the plans it then uses, whatever ran before it. Its path, for tests
    that look inside."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("STOREMON_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def auth_headers() -> dict[str, str]:
    """The header that carries the test services' token."""
    return dict(AUTH)


@pytest.fixture(scope="session")
def service_client(tmp_path_factory):
    """A factory of in-process services: `with service_client(keep_reports=2) as client:` starts
    the application on a fresh home (or `home=`) with the test token and stops it on exit.

    A fresh home gets the status plan that the worker's first fresh home recorded (the staging
    SQL and the live status's plan, `<home>/work/status.dbt/`), as if it had started before:
    recording it is a dbt run of about 10 s. The tests of recording it pass a `home=`."""
    recorded: list[Path] = []

    @contextmanager
    def open_client(home=None, **options) -> Iterator[TestClient]:
        fresh = home is None
        home = home or tmp_path_factory.mktemp("home")
        if fresh and recorded:
            shutil.copytree(recorded[0], home / STATUS_PLANS)
        with TestClient(create_app(Settings(home, token=TOKEN, **options)), headers=AUTH) as client:
            if fresh and not recorded:
                recorded.append(tmp_path_factory.mktemp("status-plans") / "plans")
                plans = home / STATUS_PLANS
                shutil.copytree(plans, recorded[0], ignore=shutil.ignore_patterns("*.duckdb*"))
            yield client

    return open_client
