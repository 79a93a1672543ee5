"""Fixture plugin: probe arrays as the probes step writes them (``probes/*``), for the runs
with layers except ``attn-only-1l`` (which shows the page's "no probes" message, like
``bigram-0l``).

Two properties: ``py_string`` (trained accuracy rising with depth from 0.80 to 0.95, the
random-init copy flat at 0.76) and ``py_indent`` (4 classes, never above its majority
baseline).
"""

from __future__ import annotations

import numpy as np

PROPS = (("py_string", "inside a string literal", "code | string", 0.75),
         ("py_indent", "block depth of the line", "depth 0 | depth 1 | depth 2 | depth 3+", 0.40))
"""(name, description, classes, majority baseline) of each fixture property."""


def layers(n_layers: int) -> list[str]:
    """The probed points of a run with ``n_layers`` blocks."""
    return ["embed"] + [f"{l}_pre" for l in range(n_layers)] + ["final_post"]


def add_arrays(writer, info) -> None:
    """Write the probe arrays of one run (runs without layers, and attn-only-1l, get none)."""
    if not info.n_layers or info.run_id == "attn-only-1l":
        return
    points = layers(info.n_layers)
    rise = np.linspace(0.80, 0.95, len(points))  # [probe_layer]
    acc = np.stack([np.stack([rise, np.full(len(points), 0.39)]),
                    np.stack([np.full(len(points), 0.76), np.full(len(points), 0.38)])])
    control = np.full_like(acc, 0.6)
    arrays = {"accuracy": acc, "ci_low": acc - 0.03, "ci_high": acc + 0.03,
              "balanced_accuracy": acc - 0.05, "control": control, "selectivity": acc - control}
    for name, values in arrays.items():
        extra = ({"corpus": "stdlib", "n_prompts": 48, "n_splits": 3,
                  "ci": "95% percentile bootstrap over test prompts"} if name == "accuracy" else {})
        writer.write(f"probes/{name}", values.astype(np.float32), **extra)
    writer.write("probes/majority", np.array([p[3] for p in PROPS], dtype=np.float32))
    writer.write("probes/n_tokens", np.array([2000, 2000], dtype=np.int32))
    writer.write("probes/property", np.array([p[0] for p in PROPS], dtype=object))
    writer.write("probes/description", np.array([p[1] for p in PROPS], dtype=object))
    writer.write("probes/classes", np.array([p[2] for p in PROPS], dtype=object))
    writer.write("probes/layer", np.array(points, dtype=object))
    writer.write("probes/model", np.array(["trained", "random-init"], dtype=object))
