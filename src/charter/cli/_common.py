"""Helpers shared by the CLI commands: JSON output and the console."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console()


def emit_json(data: Any) -> None:
    """Print machine-readable output on stdout (one JSON document)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
