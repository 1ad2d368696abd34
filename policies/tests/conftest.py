"""The CLI runs the pack from its own folder, so its modules (`mlpolicies`) import from there in tests too."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
