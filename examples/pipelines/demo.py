"""The smallest pipeline: `cnai pipeline run examples/pipelines/demo.py --param x=4 --json`."""

from cnai.pipelines import pipeline, step


@step
def square(x: int) -> int:
    return x * x


@step
def add(a: int, b: int) -> int:
    return a + b


@pipeline
def demo(x: int = 3):
    s = square(x=x)
    return add(a=s, b=x)
