"""``python -m dashboard [streamlit options]``: the same as ``streamlit run dashboard``.

Example:
    INTERP_STORE=/data/store python -m dashboard --server.port 8502
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.web import cli


def main() -> None:
    """Run ``streamlit run <this folder>`` with any extra command-line options."""
    sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parent), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
