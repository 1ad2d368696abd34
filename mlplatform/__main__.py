"""`python -m mlplatform ...`: the offline commands (preview, promote, traffic, diff)."""

import sys

from mlplatform.cli import main

sys.exit(main())
