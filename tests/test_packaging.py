"""What users install: a built wheel and sdist hold every file of the source tree, and every
folder of the package is a regular package (a folder without ``__init__.py`` is left out of a
wheel and found only by an editable install)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _compare_dist():
    spec = importlib.util.spec_from_file_location("compare_dist", ROOT / ".ci" / "compare_dist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_folder_of_the_package_is_a_regular_package():
    folders = {path.parent for path in (ROOT / "hyperspark").rglob("*.py")
               if "__pycache__" not in path.parts}
    assert folders, "no modules found"
    without = sorted(str(folder.relative_to(ROOT)) for folder in folders
                     if not (folder / "__init__.py").exists())
    assert without == []


@pytest.mark.slow
def test_built_wheel_and_sdist_ship_every_file_of_the_source_tree(tmp_path):
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(tmp_path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "would be ignored" not in built.stdout + built.stderr
    compare = _compare_dist()
    wheel = next(tmp_path.glob("hyperspark-*.whl"))
    sdist = next(tmp_path.glob("hyperspark-*.tar.gz"))
    source = compare.source_files()
    assert "hyperspark/backends/spark/connect.py" in source  # the check sees the deep folders
    shipped = compare.wheel_files(str(wheel))
    assert source - shipped == set() and shipped - source == set()
    assert source - compare.sdist_files(str(sdist)) == set()
    assert compare.main(str(wheel), str(sdist)) == 0


def test_metadata_users_look_at():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    versions = {c.rsplit(":: ", 1)[1] for c in project["classifiers"]
                if c.startswith("Programming Language :: Python :: 3.")}
    assert versions == {"3.10", "3.11", "3.12", "3.13"}
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(project["urls"])
    assert (ROOT / "hyperspark" / "py.typed").exists()
    assert os.path.basename(project["scripts"]["hyperspark"]) == "hyperspark.cli:main"
