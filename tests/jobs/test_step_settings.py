"""Step configs: every setting documented and reachable from --set / TOML, types checked."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from jobs.step_settings import SettingsError, build_config, field_docs, load_toml, parse_set, settings_dict
from jobs.steps import STEP_NAMES, UnknownStepError, load_step, resolve_steps


def test_every_step_declares_config_writes_needs_and_run():
    owned: dict[str, str] = {}
    for name in STEP_NAMES:
        module = load_step(name)
        assert dataclasses.is_dataclass(module.Config) and module.Config.__dataclass_params__.frozen
        assert callable(module.run) and module.WRITES and module.__doc__
        assert set(module.NEEDS) <= set(STEP_NAMES) and name not in module.NEEDS
        docs = field_docs(module.Config)
        for field in dataclasses.fields(module.Config):
            assert docs.get(field.name), f"{name}.{field.name} has no docstring (its --list-steps help)"
        for group in module.WRITES:  # one writer per group
            clash = [g for g in owned if g.startswith(group) or group.startswith(g)]
            assert not clash, f"{name} and {owned[clash[0]]} both write {group}"
            owned[group] = name


def test_resolve_adds_needs_in_run_order():
    assert resolve_steps(["heads"]) == ["tokens", "vocab", "heads"]
    assert resolve_steps(["circuits", "attribution"]) == ["tokens", "vocab", "attribution", "circuits"]
    assert resolve_steps(["heads"], present={"tokens", "vocab"}) == ["heads"]
    with pytest.raises(UnknownStepError, match="'hedas'"):
        resolve_steps(["hedas"])


def test_set_values_are_typed_like_toml_and_checked():
    raw = parse_set(["heads.score_prompts=64", "embeddings.tsne=false", "embeddings.tsne_perplexity=12",
                     "patching.file=pairs.toml", "embeddings.tsne_jobs=none"])
    assert build_config("heads", raw["heads"]).score_prompts == 64
    emb = build_config("embeddings", {"n_tokens": 10}, raw["embeddings"])
    assert (emb.tsne, emb.tsne_perplexity, emb.tsne_jobs, emb.n_tokens) == (False, 12.0, None, 10)
    assert build_config("patching", raw["patching"]).file == Path("pairs.toml")
    assert settings_dict(build_config("patching", raw["patching"]))["file"] == "pairs.toml"
    for item, match in (("heads", "STEP.FIELD=VALUE"), ("nosuch.x=1", "unknown analysis step")):
        with pytest.raises(SettingsError, match=match):
            parse_set([item])
    for step, values, match in (("heads", {"score_prompts": "1.5"}, "whole number"),
                                ("heads", {"score_prompts": True}, "whole number"),
                                ("embeddings", {"tsne": "maybe"}, "true or false"),
                                ("heads", {"score_prompts": "-2"}, "at least 1"),
                                ("circuits", {"nosuch": "1"}, "circuits has no setting 'nosuch'")):
        with pytest.raises(SettingsError, match=match):
            build_config(step, values)


def test_toml_settings_file(tmp_path):
    good = tmp_path / "analyze.toml"
    good.write_text("[heads]\nscore_prompts = 8\n[embeddings]\ntsne = false\n")
    data = load_toml(good)
    assert build_config("heads", data["heads"]).score_prompts == 8
    bad = tmp_path / "bad.toml"
    for text, match in (("[nosuch]\nx = 1\n", "unknown step table"), ("heads = 3\n", "must be a table"),
                        ("[heads\n", "not valid")):
        bad.write_text(text)
        with pytest.raises(SettingsError, match=match):
            load_toml(bad)
    with pytest.raises(SettingsError, match="no such file"):
        load_toml(tmp_path / "missing.toml")


def test_step_names_are_known_without_importing_steps():
    import subprocess

    code = "import sys, jobs.steps as s; s.check_names(['heads']); print(any(m.startswith('jobs.steps.') for m in sys.modules), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False False"
