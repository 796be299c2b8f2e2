"""What a Deployment may point the server at, tried as the attacks: local directories that are
not models (``model: /etc``), local models without the opt-in or the role, privileged ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cnai.auth.principal import ANONYMOUS_ADMIN, Principal, Role
from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.deploy.admission import admit_deployment
from cnai.deploy.specs import KIND, validate_deployment_spec
from cnai.errors import InvalidArgument, NotFound, PermissionDenied
from cnai.resources import AdmissionContext, Document, ResourceStore

EDITOR = Principal("ci-token", Role.EDITOR)
PLANE_PORT = 8080


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def store(engine: Any, **opt_ins: Any) -> ResourceStore:
    context = AdmissionContext(control_plane_port=PLANE_PORT, **opt_ins)
    return ResourceStore(engine, {KIND: validate_deployment_spec}, admissions={KIND: admit_deployment}, context=context)


def apply(resources: ResourceStore, spec: dict[str, Any], principal: Principal = ANONYMOUS_ADMIN) -> None:
    resources.apply(Document("cnai.io/v1", KIND, "wine", spec), principal=principal)


def nothing_written(resources: ResourceStore) -> bool:
    with pytest.raises(NotFound):
        resources.get(KIND, "wine")
    return True


@pytest.fixture
def mlflow_model(tmp_path: Path) -> Path:
    model = tmp_path / "wine-model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {python_function: {}}\n")
    return model


def test_a_system_directory_is_not_a_model(engine: Any) -> None:
    closed = store(engine)
    with pytest.raises(PermissionDenied, match="--allow-local-models"):
        apply(closed, {"model": "/etc"})
    assert nothing_written(closed)
    opted_in = store(engine, allow_local_models=True)
    with pytest.raises(InvalidArgument, match="MLmodel"):
        apply(opted_in, {"model": "/etc"})
    with pytest.raises(InvalidArgument, match="MLmodel"):
        apply(opted_in, {"model": "etc"})  # relative: would depend on the server's working directory
    assert nothing_written(opted_in)


def test_a_local_model_needs_the_opt_in_and_the_admin_role(engine: Any, mlflow_model: Path) -> None:
    with pytest.raises(PermissionDenied, match="without --allow-local-models"):
        apply(store(engine), {"model": str(mlflow_model)})
    opted_in = store(engine, allow_local_models=True)
    with pytest.raises(PermissionDenied, match="; 'ci-token' has the editor role"):
        apply(opted_in, {"model": str(mlflow_model)}, EDITOR)
    apply(opted_in, {"model": str(mlflow_model)})
    assert opted_in.get(KIND, "wine").spec["model"] == str(mlflow_model)


def test_a_local_canary_is_judged_like_the_model(engine: Any, mlflow_model: Path) -> None:
    with pytest.raises(PermissionDenied, match=r"spec\.canary\.model '/etc'"):
        apply(store(engine), {"model": "models:/wine@champion", "canary": {"model": "/etc"}}, EDITOR)
    with pytest.raises(InvalidArgument, match=r"spec\.canary\.model"):
        apply(store(engine, allow_local_models=True), {"model": str(mlflow_model), "canary": {"model": "/etc"}})


def test_registry_models_stay_open_to_editors(engine: Any) -> None:
    apply(store(engine), {"model": "models:/wine@champion", "canary": {"model": "models:/wine/2"}}, EDITOR)


@pytest.mark.parametrize(("port", "message"), [(22, "greater than or equal to 1024"), (PLANE_PORT, "own port")])
def test_a_router_may_not_take_a_privileged_port_or_the_planes_own(engine: Any, port: int, message: str) -> None:
    resources = store(engine)
    with pytest.raises(InvalidArgument, match=message):
        apply(resources, {"model": "models:/wine@champion", "port": port})
    assert nothing_written(resources)
    apply(resources, {"model": "models:/wine@champion", "port": 18080})
