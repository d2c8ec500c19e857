"""The project installs as one package, ``diskferry``, and a checkout imports as it installs.

The repository's top-level folders config/, tasks/, producer/ and emulator/ install as
``diskferry.config`` (and so on): generic top-level names would collide with anyone else's
in a user's site-packages.
"""

from __future__ import annotations

import importlib.util
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_distribution_installs_one_top_level_package() -> None:
    dist = metadata.distribution("diskferry")
    assert (dist.read_text("top_level.txt") or "").split() == ["diskferry"]
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"diskferry": "diskferry.producer.cli:main", "diskferry-emulator": "diskferry.emulator.cli:main"}


def test_each_mapped_folder_is_the_subpackage_a_checkout_imports() -> None:
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert set(package_dir) == {"diskferry.config", "diskferry.tasks", "diskferry.producer", "diskferry.emulator"}
    for name, folder in package_dir.items():
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        # through the link diskferry/<name> -> ../<folder>: the same files the wheel ships
        assert Path(spec.origin).resolve() == (ROOT / folder / "__init__.py").resolve()
