from __future__ import annotations

import sys

from leakmesh.cli.entry import run

sys.exit(run())
