"""Indirect-object-identification (IOI) prompts (docs/methods.md §12.2).

A prompt such as "When Mary and John went to the store, John gave a drink to" names the
indirect object IO (Mary) once and the subject S (John) twice; the model should continue
with IO. The templates are the 15 of Wang et al. 2022 (Redwood's ``ioi_dataset.py``), written
in BABA order ("[B] and [A] ..., [B] gave ... to"); ABBA swaps the first two names. Each
prompt stops before the final IO, so END (the last token) is where IO is predicted.

Every name, place and object must be one token *with its leading space* under the run's
tokenizer (and not the unknown id of a compact tokenizer); :func:`usable_words` filters the
lists, and a template is kept only if tokenizing the whole prompt gives exactly the ids of
its pieces (and no unknown id), so positions are known without searching.

Corruptions keep every position aligned (all fillers are single tokens):

- **name swap**: S2 becomes the IO name, which turns the clean IO into the subject and the
  clean S into the answer, so LD (clean IO - clean S) flips sign;
- **ABC**: IO, S1 and S2 become three fresh names distinct from each other and from the
  clean pair, so no name is repeated and the IOI signal is gone.

Examples:
    >>> data = ioi_dataset(tokenizer, n_prompts=64, seed=0)
    >>> data.tokens.shape, data.pos["END"][:3]
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from interp_core.tokenizers import Tokenizer

__all__ = [
    "BABA_TEMPLATES",
    "IOIDataset",
    "NAMES",
    "OBJECTS",
    "PLACES",
    "POSITIONS",
    "ioi_dataset",
    "usable_words",
]

BABA_TEMPLATES: tuple[str, ...] = (
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to",
)
"""Wang et al.'s templates, BABA order ([B] = subject, [A] = indirect object), END = last word."""

NAMES: tuple[str, ...] = (
    "Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Anderson", "Andre", "Andrew", "Andy",
    "Anna", "Anthony", "Arthur", "Austin", "Blake", "Brandon", "Brian", "Carter", "Charles",
    "Charlie", "Christian", "Christopher", "Clark", "Cole", "Collins", "Connor", "Crew",
    "Crystal", "Daniel", "David", "Dean", "Edward", "Elizabeth", "Emily", "Eric", "Eva", "Ford",
    "Frank", "George", "Georgia", "Graham", "Grant", "Henry", "Ian", "Jack", "Jacob", "Jake",
    "James", "Jamie", "Jane", "Jason", "Jay", "Jennifer", "Jeremy", "Jessica", "John",
    "Jonathan", "Jordan", "Joseph", "Joshua", "Justin", "Kate", "Kelly", "Kevin", "Kyle",
    "Laura", "Leon", "Lewis", "Lisa", "Louis", "Luke", "Madison", "Marco", "Marcus", "Maria",
    "Mark", "Martin", "Mary", "Matthew", "Max", "Michael", "Michelle", "Morgan", "Patrick",
    "Paul", "Peter", "Prince", "Rachel", "Richard", "River", "Robert", "Roman", "Rose", "Ruby",
    "Russell", "Ryan", "Sarah", "Scott", "Sean", "Simon", "Stephen", "Steven", "Sullivan",
    "Taylor", "Thomas", "Tyler", "Victoria", "Warren", "William",
)  # fmt: skip
"""Candidate first names (Wang et al.'s list); filtered per tokenizer by :func:`usable_words`."""

PLACES: tuple[str, ...] = ("store", "garden", "restaurant", "school", "hospital", "office",
                           "house", "station")  # fmt: skip
OBJECTS: tuple[str, ...] = ("ring", "kiss", "bone", "basketball", "computer", "necklace", "drink",
                            "snack")  # fmt: skip

POSITIONS: tuple[str, ...] = ("IO", "S1", "S1+1", "S2", "END")
"""Named token positions stored per prompt."""

MIN_NAMES = 5
"""Fewest single-token names a tokenizer must keep (ABC needs 5 distinct names per prompt)."""

_SLOT = re.compile(r"\[(A|B|PLACE|OBJECT)\]")


def _single_token(tokenizer: Tokenizer, word: str) -> int | None:
    """Id of ``" " + word`` if it is exactly one known token, else None."""
    ids = tokenizer.encode(" " + word)
    unk = getattr(tokenizer, "unk_id", None)
    return ids[0] if len(ids) == 1 and ids[0] != unk else None


def usable_words(tokenizer: Tokenizer, words: Sequence[str]) -> dict[str, int]:
    """The words that are one token with a leading space: ``{word: token id}``."""
    ids = {word: _single_token(tokenizer, word) for word in words}
    return {word: i for word, i in ids.items() if i is not None}


@dataclasses.dataclass(frozen=True)
class IOIDataset:
    """IOI prompts with their corruptions, right-padded to one length.

    Padding sits after END; with causal attention it cannot change anything at or before
    END, so every metric reads position ``pos["END"][b]`` of prompt b.
    """

    tokens: np.ndarray
    """[prompt, pos] int64 clean prompts (BOS first when ``prepend_bos``)."""
    swap_tokens: np.ndarray
    """[prompt, pos] name-swap corruption (S2 := IO)."""
    abc_tokens: np.ndarray
    """[prompt, pos] ABC corruption (IO, S1, S2 := three fresh names)."""
    io: np.ndarray
    """[prompt] token id of the indirect object (the answer)."""
    s: np.ndarray
    """[prompt] token id of the subject."""
    pos: dict[str, np.ndarray]
    """Position name (see :data:`POSITIONS`) -> [prompt] int64 index."""
    template: np.ndarray
    """[prompt] index into ``templates``."""
    order: np.ndarray
    """[prompt] "ABBA" or "BABA"."""
    texts: tuple[str, ...]
    """Clean prompt texts (without BOS)."""
    templates: tuple[str, ...]
    """The templates actually used (BABA form)."""
    names: dict[str, int]
    """The usable names and their ids."""

    def __len__(self) -> int:
        return len(self.texts)


def _pieces(template: str, order: str) -> list[str]:
    """Split a template into literal text and slot names; ABBA swaps the first two names."""
    parts = _SLOT.split(template)  # text, slot, text, slot, ...
    if order == "ABBA":
        first = [i for i in range(1, len(parts), 2) if parts[i] in "AB"][:2]
        parts[first[0]], parts[first[1]] = parts[first[1]], parts[first[0]]
    return parts


def _build(
    tokenizer: Tokenizer, parts: list[str], fill: dict[str, int]
) -> tuple[list[int], list[tuple[str, int]]]:
    """Token ids of a filled template (slot ids from ``fill``, literal text encoded without
    the space that the next slot's token carries) and the (slot, position) of each slot."""
    ids: list[int] = []
    slots: list[tuple[str, int]] = []
    for i, part in enumerate(parts):
        if i % 2:
            slots.append((part, len(ids)))
            ids.append(fill[part])
        elif part:
            text = part[:-1] if part.endswith(" ") and i + 1 < len(parts) else part
            ids += tokenizer.encode(text)
    return ids, slots


def _text(parts: list[str], words: dict[str, str]) -> str:
    return "".join(words[p] if i % 2 else p for i, p in enumerate(parts))


def _sample(
    rng: np.random.Generator, tokenizer: Tokenizer, template: str, order: str,
    vocab: dict[str, dict[str, int]], bos: list[int],
) -> dict:  # fmt: skip
    """One prompt: its clean, name-swap and ABC ids, answer pair, positions and text."""
    names = list(vocab["names"])
    a, b, c, d, e = rng.choice(len(names), 5, replace=False)
    words = {"A": names[a], "B": names[b]}
    for slot, key in (("PLACE", "places"), ("OBJECT", "objects")):
        words[slot] = list(vocab[key])[int(rng.integers(len(vocab[key])))]
    lookup = vocab["names"] | vocab["places"] | vocab["objects"]
    parts = _pieces(template, order)
    ids, slots = _build(tokenizer, parts, {k: lookup[v] for k, v in words.items()})
    clean = bos + ids
    io_pos = next(p for slot, p in slots if slot == "A") + len(bos)
    s1_pos, s2_pos = (p + len(bos) for slot, p in slots if slot == "B")
    swap, abc = list(clean), list(clean)
    swap[s2_pos] = lookup[words["A"]]
    abc[io_pos], abc[s1_pos], abc[s2_pos] = (lookup[names[i]] for i in (c, d, e))
    pos = dict(zip(POSITIONS, (io_pos, s1_pos, s1_pos + 1, s2_pos, len(clean) - 1)))
    return {"clean": clean, "swap": swap, "abc": abc, "io": lookup[words["A"]],
            "s": lookup[words["B"]], "pos": pos, "text": _text(parts, words)}  # fmt: skip


def _vocab(tokenizer: Tokenizer) -> dict[str, dict[str, int]]:
    """The usable names, places and objects; raises when IOI prompts cannot be formed."""
    lists = (("names", NAMES), ("places", PLACES), ("objects", OBJECTS))
    vocab = {key: usable_words(tokenizer, words) for key, words in lists}
    n_names, n_places, n_objects = (len(vocab[k]) for k in ("names", "places", "objects"))
    if n_names < MIN_NAMES or not n_places or not n_objects:
        raise ValueError(
            f"the tokenizer keeps {n_names} single-token names (need {MIN_NAMES}), "
            f"{n_places} places and {n_objects} objects (need 1 each): IOI prompts "
            "cannot be formed"
        )
    return vocab


def ioi_dataset(
    tokenizer: Tokenizer,
    n_prompts: int = 64,
    *,
    seed: int = 0,
    templates: Sequence[str] = BABA_TEMPLATES,
    orders: Sequence[str] = ("ABBA", "BABA"),
    prepend_bos: bool = True,
) -> IOIDataset:
    """Sample ``n_prompts`` IOI prompts (templates and orders drawn uniformly; seeded).

    Raises:
        ValueError: Fewer than :data:`MIN_NAMES` names, no place or object, or no template
            that tokenizes piecewise under ``tokenizer``.
    """
    if n_prompts < 1:
        raise ValueError(f"n_prompts must be >= 1, got {n_prompts}")
    if not orders or any(o not in ("ABBA", "BABA") for o in orders):
        raise ValueError(f"orders must be a non-empty subset of ABBA, BABA; got {tuple(orders)}")
    vocab = _vocab(tokenizer)
    kept = tuple(t for t in templates if all(_consistent(tokenizer, _pieces(t, o), vocab)
                                             for o in orders))  # fmt: skip
    if not kept:
        raise ValueError("no IOI template tokenizes into its pieces under this tokenizer")
    rng = np.random.default_rng(seed)
    bos = [tokenizer.bos_id] if prepend_bos else []
    picks = [(int(rng.integers(len(kept))), orders[int(rng.integers(len(orders)))])
             for _ in range(n_prompts)]  # fmt: skip
    rows = [_sample(rng, tokenizer, kept[t], order, vocab, bos) for t, order in picks]
    pad = max(len(r["clean"]) for r in rows)

    def padded(key: str) -> np.ndarray:
        fill = [tokenizer.bos_id]
        return np.array([r[key] + fill * (pad - len(r[key])) for r in rows], dtype=np.int64)

    column = lambda key: np.array([r[key] for r in rows], dtype=np.int64)  # noqa: E731
    return IOIDataset(
        tokens=padded("clean"), swap_tokens=padded("swap"), abc_tokens=padded("abc"),
        io=column("io"), s=column("s"),
        pos={k: np.array([r["pos"][k] for r in rows], dtype=np.int64) for k in POSITIONS},
        template=np.array([t for t, _ in picks], dtype=np.int64),
        order=np.array([o for _, o in picks]), texts=tuple(r["text"] for r in rows),
        templates=kept, names=vocab["names"],
    )  # fmt: skip


def _consistent(
    tokenizer: Tokenizer, parts: list[str], vocab: dict[str, dict[str, int]]
) -> bool:
    """Does tokenizing the whole filled template give the piecewise ids, none unknown?"""
    first, second = list(vocab["names"])[:2]
    probe = {"A": first, "B": second, "PLACE": next(iter(vocab["places"])),
             "OBJECT": next(iter(vocab["objects"]))}  # fmt: skip
    lookup = vocab["names"] | vocab["places"] | vocab["objects"]
    ids, _ = _build(tokenizer, parts, {k: lookup[v] for k, v in probe.items()})
    unk = getattr(tokenizer, "unk_id", None)
    return tokenizer.encode(_text(parts, probe)) == ids and unk not in ids
