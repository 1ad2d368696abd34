"""`python -m mlplatform ...`, the same as the `mlp` command: preview, diff, endpoints, promote, traffic, schema."""

import sys

from mlplatform.cli import main

sys.exit(main())
