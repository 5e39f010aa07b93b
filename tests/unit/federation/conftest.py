"""Test setup for the federation unit tests.

The project is not installed in the virtualenv while it is being built, so the repository root
is put on ``sys.path`` to import ``federation`` and ``schemas``; this folder too, for the
``fed_vectors`` helper module.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
TESTS_DIR = Path(__file__).resolve().parent  # for the fed_vectors helper, in any import mode
for entry in (REPO_ROOT, TESTS_DIR):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))
