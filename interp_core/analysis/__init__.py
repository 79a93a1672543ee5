"""Analyses: plain functions over models, caches and tensors (docs/methods.md Appendix D names).

Each topic lives in its own module; this package re-exports their public names so
``from interp_core.analysis import induction_score`` works for every Appendix D function.
"""

from interp_core.analysis.attribution import *  # noqa: F403
from interp_core.analysis.bigrams import *  # noqa: F403
from interp_core.analysis.circuits import *  # noqa: F403
from interp_core.analysis.dynamics import *  # noqa: F403
from interp_core.analysis.embeddings import *  # noqa: F403
from interp_core.analysis.factored import *  # noqa: F403
from interp_core.analysis.finetune import *  # noqa: F403
from interp_core.analysis.folding import *  # noqa: F403
from interp_core.analysis.head_scores import *  # noqa: F403
from interp_core.analysis.neurons import *  # noqa: F403
from interp_core.analysis.norm_attention import *  # noqa: F403
from interp_core.analysis.patching import *  # noqa: F403
from interp_core.analysis.probes import *  # noqa: F403
