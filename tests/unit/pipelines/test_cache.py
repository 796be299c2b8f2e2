"""Cache keys: code normalised, inputs chained through producers' keys."""

from __future__ import annotations

from pathlib import Path

from cnai.pipelines import loader
from cnai.pipelines.cache import code_hash, item_key, node_keys

BASE = """
from cnai.pipelines import pipeline, step

@step
def first(x: int) -> int:
    return x + 1

@step
def second(y: int) -> int:
    return y * 2

@step
def other(x: int) -> int:
    return x - 1

@pipeline
def chain(x: int = 1):
    return [second(y=first(x=x)), other(x=x)]
"""


def _keys(tmp_path: Path, source: str, x: int = 1) -> dict[str, str]:
    file = tmp_path / "chain.py"
    file.write_text(source)
    module, _ = loader.load_file(file)
    graph = loader.find_pipeline(module, None).graph()
    return node_keys(graph, {"x": x}, {})


def test_comments_docstrings_and_formatting_do_not_change_keys(tmp_path: Path) -> None:
    reformatted = BASE.replace("    return x + 1", '    """Adds one."""\n    # a comment\n    return (x  +  1)')
    assert _keys(tmp_path, BASE) == _keys(tmp_path, reformatted)


def test_a_code_change_changes_the_step_and_its_descendants_only(tmp_path: Path) -> None:
    before = _keys(tmp_path, BASE)
    after = _keys(tmp_path, BASE.replace("return x + 1", "return x + 2"))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"first", "second"}


def test_input_values_change_keys(tmp_path: Path) -> None:
    assert _keys(tmp_path, BASE, 1)["other"] != _keys(tmp_path, BASE, 2)["other"]


def test_items_of_a_fan_out_have_distinct_keys() -> None:
    assert len({item_key("k", i) for i in range(50)}) == 50


def test_code_hash_is_stable_across_loads(tmp_path: Path) -> None:
    file = tmp_path / "chain.py"
    file.write_text(BASE)
    one = code_hash(loader.find_pipeline(loader.load_file(file)[0], None).graph().nodes["first"].step)
    file.write_text(BASE + "\n# trailing\n")
    two = code_hash(loader.find_pipeline(loader.load_file(file)[0], None).graph().nodes["first"].step)
    assert one == two
