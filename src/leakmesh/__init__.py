"""leakmesh: find leaked credentials in directories and git history."""

from __future__ import annotations

__version__ = "0.1.0"
