"""Fuzzing the loaders of user input: a clean load or the project's own error, nothing else.

Random dicts go to ``ModelConfig.from_dict`` (and as text to ``ModelConfig.load``), random
TOML/JSON text and structures to the prompt-pair parser, random bytes files and path
strings to the corpus loader. Any other exception (TypeError, UnicodeEncodeError,
OverflowError, OSError, ...) would reach the user as a traceback, so it fails the test.
"""

from __future__ import annotations

import json
import os
import tomllib
import warnings

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from interp_core.config import ConfigError, ModelConfig
from interp_core.corpora import CorpusError, load_corpus
from interp_core.prompt_pairs import PromptPairError, load_prompt_pairs, parse_prompt_pairs
from interp_core.tokenizers import BytesTokenizer

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
VALID = {"n_layers": 1, "d_model": 8, "n_heads": 2, "d_head": 4, "d_vocab": 256, "n_ctx": 16}
FIELDS = [*VALID, "d_mlp", "act_fn", "normalization_type", "positional_embedding_type", "eps",
          "init_range", "tokenizer", "kind"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**400)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
config_dicts = (st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=12)
                | st.builds(lambda changes: VALID | changes,
                            st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3)))


@FUZZ
@given(config_dicts)
def test_config_loader(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown fields warn by design
        try:
            cfg = ModelConfig.from_dict(data)
        except ConfigError:
            return
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


@FUZZ
@given(st.binary(max_size=200) | config_dicts.map(lambda d: json.dumps(d).encode()))
def test_config_file_loader(tmp_path, raw):
    path = tmp_path / "config.json"
    path.write_bytes(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ModelConfig.load(path)
        except ConfigError:
            pass


pair_text = st.text(max_size=6) | st.sampled_from(["\ud800", "a\udfff b"])  # JSON can carry lone surrogates
pairs = st.lists(st.fixed_dictionaries({}, optional={k: pair_text | json_values for k in
                                                     ("clean", "corrupted", "answer", "wrong")}),
                 max_size=3) | json_values
documents = st.fixed_dictionaries({}, optional={"name": json_values | st.text(max_size=8),
                                                "pairs": pairs, "pair": pairs}) | pairs


def _toml(doc) -> str:
    """A document as TOML when it can be one (tables of strings), else random text."""
    if not isinstance(doc, dict):
        return str(doc)
    lines = [f"name = {json.dumps(doc['name'])}"] if isinstance(doc.get("name"), str) else []
    for pair in doc.get("pair") if isinstance(doc.get("pair"), list) else []:
        lines.append("[[pair]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in (pair.items() if isinstance(pair, dict) else [])]
    return "\n".join(lines)


@FUZZ
@given(documents, st.sampled_from(["json", "toml"]), st.text(max_size=30))
def test_prompt_pair_parser(doc, fmt, noise):
    tok = BytesTokenizer()
    texts = [json.dumps(doc) if fmt == "json" else _toml(doc), noise]
    for text in texts:
        try:
            parsed = parse_prompt_pairs(text, fmt, tok)
        except PromptPairError:
            continue
        assert parsed.clean.shape == parsed.corrupted.shape and parsed.answer.shape == parsed.wrong.shape


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["p.json", "p.toml", "p.txt", "p"]))
def test_prompt_pair_file_loader(tmp_path, raw, name):
    path = tmp_path / name
    path.write_bytes(raw)
    try:
        load_prompt_pairs(path, BytesTokenizer())
    except PromptPairError:
        pass


@FUZZ
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=3),
       st.none() | st.integers(min_value=-5, max_value=500))
def test_corpus_loader_on_random_files(tmp_path, blobs, max_chars):
    root = tmp_path / "corpus"
    root.mkdir(exist_ok=True)
    for old in root.iterdir():
        old.unlink()
    for i, blob in enumerate(blobs):
        (root / f"doc{i}.txt").write_bytes(blob)
    for target in (root, root / "doc0.txt"):
        try:
            corpus = load_corpus(str(target), max_chars=max_chars)
        except CorpusError:
            continue
        assert corpus.documents and all(doc.strip() for doc in corpus.documents)


@FUZZ
@given(st.text(max_size=40) | st.text(alphabet="ab/.~\x00", min_size=250, max_size=5000))
def test_corpus_loader_on_random_names(name):
    try:
        exists = os.path.exists(os.path.expanduser(name))
    except (RuntimeError, ValueError):  # "~nosuchuser", a NUL: the loader must refuse these in words
        exists = False
    assume(name not in ("stdlib", "shakespeare") and not exists)
    try:
        load_corpus(name, max_chars=10)
    except CorpusError:
        pass


def test_toml_helper_writes_toml():
    """The strategy's TOML is TOML (so the parser sees tables, not only syntax errors)."""
    text = _toml({"name": "x", "pair": [{"clean": "a\u00e9", "answer": "b"}]})
    assert tomllib.loads(text) == {"name": "x", "pair": [{"clean": "a\u00e9", "answer": "b"}]}
