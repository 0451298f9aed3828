"""Errors from Spark jobs as featuredsl errors: a worker's ``InputError`` comes back as the same
``InputError`` on the driver, not as a Py4J stack trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from featuredsl.errors import ArtifactError, FeatureDSLError, InputError
from featuredsl.spark.worker import MARK


def decode(exc: BaseException) -> FeatureDSLError | None:
    """The featuredsl error a worker encoded into ``exc``'s text (see ``worker.encode_error``),
    or ``None`` if ``exc`` is not one."""
    text = str(exc)
    start = text.find(MARK)
    if start < 0:
        return None
    end = text.find(MARK, start + len(MARK))
    try:
        doc = json.loads(text[start + len(MARK):end])
    except ValueError:
        return None
    if doc.get("kind") == "ArtifactError":
        return ArtifactError(doc["message"])
    return InputError(doc["message"], field=doc.get("field"), row=doc.get("row"),
                      expected=doc.get("expected"))


@contextmanager
def translate() -> Iterator[None]:
    """Run Spark actions (``collect``, ``write``...) inside this: a featuredsl error raised in a
    worker is raised again here as itself (an ``InputError`` naming the column, the row within
    the worker's chunk and the expected type). Other Spark errors pass through unchanged."""
    try:
        yield
    except FeatureDSLError:
        raise
    except Exception as exc:  # Py4JJavaError, PythonException, SparkException...
        got = decode(exc)
        if got is None:
            raise
        raise got from None
