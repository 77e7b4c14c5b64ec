"""The examples in the library's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mlm_explorer

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(mlm_explorer.__path__, "mlm_explorer.")
    if not m.name.endswith("__main__")
)


def test_the_walk_finds_the_modules_with_examples():
    assert {"mlm_explorer.training", "mlm_explorer.masking", "mlm_explorer.ui.look"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
