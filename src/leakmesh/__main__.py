from __future__ import annotations

import sys

from leakmesh.cli.main import main

sys.exit(main())
