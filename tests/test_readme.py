"""Every example of README.md runs as written.

``python`` blocks run in a fresh interpreter whose working directory is a temporary folder laid
out as ``make demo`` leaves the repository root (``lab-store/`` with run ``tiny-attn-only-2l``,
``checkpoints/tiny/attn-only-2l``), built here with a small training run. ``PYTHONPATH`` is
cleared, so the imports work only because ``make`` installed the packages into the venv: the
examples run from any directory, and everything they use is defined in them.

``bash`` blocks: every ``python -m jobs <command> ...`` line names a real command and only flags
its ``--help`` lists; every ``--set step.field=...`` names a setting of ``--list-steps``; every
``make <target>`` names a Makefile target. The stored attrs of the run built here are checked
for citations that point nowhere (``tests/test_docs.py``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_docs import unresolved_citations

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RUN_ID = "tiny-attn-only-2l"
CHECKPOINT = Path("checkpoints/tiny/attn-only-2l")
INSTALL_HINT = ("the lab's packages are not installed in this interpreter: run "
                "`rm -f .venv/.runtime && make .venv/.runtime` (pip install -e .)")


def _blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return env | {"PYTHONUNBUFFERED": "1"}


def _python(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    """A folder shaped like the repository root after ``make demo``, with one small run."""
    from jobs.analyze_model import AnalyzeConfig, analyze
    from jobs.data import prepare_data
    from jobs.train_model import TrainConfig, train
    from tests.jobs.conftest import make_small_preset

    root = tmp_path_factory.mktemp("demo")
    preset = make_small_preset()
    data = prepare_data("stdlib", preset.tokenizer, max_chars=preset.max_chars)
    train(TrainConfig(model="attn-only-2l", preset="tiny", out=root / CHECKPOINT, device="cpu"),
          data=data, preset=preset, progress=False)
    analyze(AnalyzeConfig(checkpoint=root / CHECKPOINT, store_root=root / "lab-store",
                          run_id=RUN_ID, device="cpu"), preset=preset, progress=False)
    return root


def test_the_packages_import_from_any_directory(tmp_path) -> None:
    out = _python(["-c", "import store, interp_core, jobs, dashboard; print(store.__file__)"],
                  tmp_path)
    assert out.returncode == 0, f"{INSTALL_HINT}\n{out.stderr[-2000:]}"
    assert Path(out.stdout.strip()).resolve().is_relative_to(REPO), out.stdout


def test_the_python_examples_show_labelled_reads() -> None:
    blocks = _blocks("python")
    assert len(blocks) >= 2, "README.md should have the store and the model examples"
    text = "\n".join(blocks)
    for needed in ('.sel(score="induction")', 'coords["token_str"]', "run_with_cache",
                   "model.hooks("):
        assert needed in text, f"README's Python examples no longer show {needed}"
    for block in blocks:  # an example that reads a run or a checkpoint reads the demo's
        if "open_store" in block or "load_checkpoint" in block or "from_checkpoint" in block:
            assert f'"{RUN_ID}"' in block or str(CHECKPOINT) in block, (
                "a README example reads something this test does not build; build it in demo_dir")


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_every_python_example_runs(index: int, demo_dir: Path) -> None:
    code = _blocks("python")[index]
    out = _python(["-c", code], demo_dir)
    if "ModuleNotFoundError" in out.stderr and "No module named" in out.stderr:
        pytest.fail(f"{INSTALL_HINT}\n{out.stderr[-2000:]}")
    assert out.returncode == 0, f"README python block {index} failed:\n{code}\n{out.stderr[-3000:]}"
    assert out.stdout.strip(), f"README python block {index} printed nothing"


def _jobs_commands() -> list[str]:
    """Every ``python -m jobs ...`` command of the bash blocks, continuation lines joined."""
    commands = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("python -m jobs"):
                commands.append(line)
    return commands


def test_every_jobs_command_uses_real_subcommands_and_flags(tmp_path) -> None:
    commands = _jobs_commands()
    assert len(commands) >= 4, "README.md should show the jobs command line"
    helps: dict[str, str] = {}
    for command in commands:
        words = command.split()
        sub = words[3] if len(words) > 3 and not words[3].startswith("-") else None
        assert sub is not None, f"{command!r}: name a subcommand"
        if sub not in helps:
            out = _python(["-m", "jobs", sub, "--help"], tmp_path, timeout=60)
            assert out.returncode == 0, f"`python -m jobs {sub} --help` failed:\n{out.stderr}"
            helps[sub] = out.stdout
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", command):
            assert re.search(rf"{flag}\b", helps[sub]), (
                f"{command!r}: {flag} is not an option of `{sub}`")


def test_every_step_setting_in_the_readme_exists(tmp_path) -> None:
    settings = {s for c in _jobs_commands() for s in re.findall(r"--set\s+([a-z_]+\.[a-z_]+)=", c)}
    assert settings, "README.md should show --set"
    out = _python(["-m", "jobs", "analyze", "--list-steps"], tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for setting in settings:
        assert f"--set {setting}=" in out.stdout, f"README's --set {setting} is not a step setting"


def test_every_make_target_in_the_readme_exists() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = {m for block in _blocks("bash")
               for m in re.findall(r"^make\s+([\w.-]+)", block, re.M)}
    assert {"demo", "test"} <= targets
    for target in targets:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no Makefile target {target}"


def test_stored_attrs_cite_only_documented_sections(demo_dir: Path) -> None:
    from store import open_store

    run = open_store(demo_dir / "lab-store").run(RUN_ID)
    texts = {"root attrs": json.dumps(run.attrs, ensure_ascii=False, default=str)}
    texts |= {f"attrs of {name}": json.dumps(run.array_attrs(name), ensure_ascii=False, default=str)
              for name in run.arrays()}
    assert any("§" in t for t in texts.values()), "the run should cite docs/methods.md somewhere"
    bad = [b for where, text in texts.items() for b in unresolved_citations(text, where)]
    assert not bad, "stored citations that point nowhere:\n" + "\n".join(bad)
