"""``python -m charter.train sft|reward|dpo|grpo ...``: the ``charter train`` command.

This entry point exists for launchers that take a module, e.g.
``accelerate launch -m charter.train dpo --data runs/demo/labels --output out/dpo``.
"""

from __future__ import annotations

import sys

from charter.cli.main import main

if __name__ == "__main__":
    sys.argv.insert(1, "train")
    main()
