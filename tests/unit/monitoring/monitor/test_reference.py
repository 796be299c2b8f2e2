"""References: a file, or the dataset artifact logged with a run or a registered version's run,
read through the control plane's real stores."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cnai.artifacts.local import LocalArtifactStore
from cnai.errors import InvalidState, NotFound
from cnai.monitoring.monitor.reference import ArtifactReferenceLoader, load_file_reference
from cnai.monitoring.monitor.spec import Reference
from cnai.registry.store import RegistryStore
from cnai.tracking.experiments import ExperimentStore
from cnai.tracking.runs import RunStore
from tests.unit.monitoring.monitor.conftest import Env

FRAME = pd.DataFrame({"a": [1.0, 2.0, 3.0], "color": ["red", "blue", "red"]})


def test_file_reference(tmp_path: Path) -> None:
    FRAME.to_parquet(tmp_path / "ref.parquet")
    source = load_file_reference(Reference(file=str(tmp_path / "ref.parquet")))
    assert source.num_rows == 3
    assert source.schema.names == ["a", "color"]
    with pytest.raises(InvalidState, match="need the control plane's artifact store"):
        load_file_reference(Reference(run="abc"))


def test_run_and_model_version_references_come_from_the_artifact_store(env: Env, tmp_path: Path) -> None:
    ExperimentStore(env.engine).ensure_default()
    runs, registry = RunStore(env.engine), RegistryStore(env.engine)
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    run_id = runs.create("0", "me", None, [], "train")["info"]["run_id"]
    # Where `mlflow.log_artifact("reference.parquet")` puts it on a cnai server (mlflow-artifacts:/0/<run>/artifacts).
    FRAME.to_parquet(tmp_path / "reference.parquet")
    with (tmp_path / "reference.parquet").open("rb") as fh:
        artifacts.write(f"0/{run_id}/artifacts/reference.parquet", fh)
    artifacts.write_bytes(f"0/{run_id}/artifacts/data/sample.csv", FRAME.to_csv(index=False).encode())
    registry.create_model("iris", [], "")
    registry.create_version("iris", f"runs:/{run_id}/model", run_id, [], None, None, None)
    registry.set_alias("iris", "champion", "1")
    loader = ArtifactReferenceLoader(artifacts, runs, registry)

    by_run = loader(Reference(run=run_id))
    assert by_run.num_rows == 3
    assert by_run.name == f"runs:/{run_id}/reference.parquet"
    by_version = loader(Reference(model_version="models:/iris/1", artifact_path="data/sample.csv"))
    assert by_version.column("color").to_pylist() == ["red", "blue", "red"]
    assert loader(Reference(model_version="models:/iris@champion")).num_rows == 3
    assert loader(Reference(file=str(tmp_path / "reference.parquet"))).num_rows == 3
    with pytest.raises(NotFound, match=r"has no reference dataset at missing\.csv"):
        loader(Reference(run=run_id, artifact_path="missing.csv"))
    registry.create_version("iris", "s3://elsewhere/model", None, [], None, None, None)
    with pytest.raises(InvalidState, match="was not registered from a run"):
        loader(Reference(model_version="models:/iris/2"))
