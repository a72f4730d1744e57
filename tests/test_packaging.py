"""The package a user installs and the documentation they read: the wheel's top-level names, its
data files and version; the docs site builds with every reference resolved; the README stays a
short user document."""
import re
import textwrap
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (whl,) = out.glob("infoflow-*.whl")
    return whl


def test_the_wheel_installs_what_it_should(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"infoflow"}  # one namespace: no generic top-level name (models, experiments) installed
    assert "infoflow/experiments/configs/denoise_train400.yaml" in names  # configs are package data
    subs = ("infoflow", "infoflow/infotheory", "infoflow/models", "infoflow/experiments")
    assert {f"{p}/py.typed" for p in subs} <= set(names)
    assert "infoflow/experiments/training/trainer.py" in names and "infoflow/infotheory/estimators/ksg.py" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "notebooks/", "docs/")) for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: MIT" in text and "Classifier: Typing :: Typed" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_unpacked_wheel_imports_on_its_own(wheel, tmp_path):
    """What the wheel holds is enough: imported from the unpacked wheel, not from the checkout."""
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = ("import infoflow, infoflow.infotheory, infoflow.experiments.cli as cli, importlib.util, pathlib;"
            "assert pathlib.Path(cli.__file__).is_relative_to(pathlib.Path.cwd()), cli.__file__;"
            "assert all(importlib.util.find_spec(n) is None for n in ('experiments', 'models', 'infotheory'));"
            "print(infoflow.__version__)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "site", capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "site")})
    assert r.returncode == 0, r.stderr[-2000:]
    import infoflow

    assert r.stdout.strip() == infoflow.__version__


def test_version_everywhere():
    import infoflow
    from infoflow.experiments.cli import main

    toml = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{infoflow.__version__}"' in toml
    assert f"version: {infoflow.__version__}" in (ROOT / "CITATION.cff").read_text()
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0


def test_debug_shows_the_traceback(tmp_path, capsys):
    from infoflow.experiments.cli import main

    assert main(["estimate", str(tmp_path / "missing.npy"), str(tmp_path / "y.npy")]) == 2
    assert "--debug" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        main(["--debug", "estimate", str(tmp_path / "missing.npy"), str(tmp_path / "y.npy")])


def test_docs_build_strict(tmp_path):
    # no -q: mkdocs -q drops the warnings before --strict counts them (a broken cross-reference passed)
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "site" / "information" / "index.html").exists()
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "band_information" in api and "jsd_lower_bound" in api and "register_adversarial" in api


def test_readme_is_short_user_documentation():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "no dates in user docs"
    assert not re.search(r"\bissues? #?\d+|\bsessions?\b", text, re.I), "no issue numbers or work logs"
    for doc in (ROOT / "docs").glob("*.md"):
        body = doc.read_text()
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", body), doc.name
        assert not re.search(r"\bissues? #?\d+|\bsessions?\b", body, re.I), doc.name
    assert "make demo" in text and "make test" in text


def test_the_core_install_estimates_mi_without_the_experiments_extra(wheel, tmp_path):
    """A user who only estimates MI installs no plotting, imaging or attribution library; a command that
    needs them says which extra to install."""
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    reqs = [ln.split(":", 1)[1].strip() for ln in zipfile.ZipFile(wheel).read(meta).decode().splitlines()
            if ln.startswith("Requires-Dist:")]
    core = {re.split(r"[<>=;\[ ]", r)[0].lower() for r in reqs if "extra ==" not in r}
    extra = {re.split(r"[<>=;\[ ]", r)[0].lower() for r in reqs if 'extra == "experiments"' in r}
    heavy = {"captum", "seaborn", "matplotlib", "scikit-image", "pywavelets"}
    assert not core & heavy and heavy <= extra and {"torch", "numpy", "scipy"} <= core
    np_x = tmp_path / "x.npy"
    code = textwrap.dedent(f"""
        import sys, numpy as np
        class Block:  # the [experiments] extra is not installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("skimage", "matplotlib", "seaborn", "captum", "pywt"):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        from infoflow.experiments.cli import main
        rng = np.random.default_rng(0); x = rng.standard_normal((500, 2)); np.save({str(np_x)!r}, x)
        np.save({str(tmp_path / "y.npy")!r}, x + rng.standard_normal((500, 2)))
        assert main(["estimate", {str(np_x)!r}, {str(tmp_path / "y.npy")!r}]) == 0  # auto, fast
        assert main(["train", "--out", {str(tmp_path / "run")!r}, "--set", "train.steps=1"]) == 2
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "pip install 'infoflow[experiments]'" in r.stderr and "nats" in r.stdout


def test_the_wheel_installs_into_a_fresh_venv(wheel, tmp_path):
    """pip installs the wheel into a new environment (dependencies taken from this one): `import
    infoflow` and the `infoflow --version` command work, and no generic top-level package lands."""
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    assert (site / "infoflow" / "experiments" / "cli.py").is_file()
    assert not any((site / n).exists() for n in ("models", "experiments", "infotheory"))
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "PYTHONPATH": sysconfig.get_paths()["purelib"]}  # the deps
    r = subprocess.run([str(venv / "bin" / "infoflow"), "--version"], capture_output=True, text=True, timeout=300,
                       env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith(_version()), r.stdout + r.stderr[-2000:]
    r = subprocess.run([str(py), "-c", "import infoflow.infotheory as t; print(t.__file__)"], capture_output=True,
                       text=True, timeout=300, env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().startswith(str(site)), r.stdout + r.stderr[-2000:]


def _version() -> str:
    import infoflow

    return infoflow.__version__


def test_the_cli_refuses_to_run_under_a_second_module_name():
    """From a checkout's root, `python -m experiments.cli` would import every module a second time
    (experiments.* beside infoflow.experiments.*), each copy with its own registries — a task's
    plug-in degradation ('blur') then unknown where the config is checked. It is refused by name;
    `python -m infoflow.experiments.cli` runs."""
    wrong = subprocess.run([sys.executable, "-m", "experiments.cli", "--help"], capture_output=True, text=True,
                           cwd=ROOT, timeout=300)
    assert wrong.returncode == 1 and "python -m infoflow.experiments.cli" in wrong.stderr
    right = subprocess.run([sys.executable, "-m", "infoflow.experiments.cli", "--version"], capture_output=True,
                           text=True, cwd=ROOT, timeout=300)
    assert right.returncode == 0 and "infoflow" in right.stdout


def test_the_command_starts_without_importing_torch():
    """`infoflow --help` and `--version` answer at once: the CLI module imports torch only inside the
    commands that need it (its YAML error messages included)."""
    code = "import sys, infoflow.experiments.cli; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr
