"""``python -m charter ...``: the ``charter`` command, for launchers that take a module.

For example ``accelerate launch -m charter train dpo --data runs/demo/labels --output out/dpo``.
"""

from __future__ import annotations

from charter.cli.main import main

if __name__ == "__main__":
    main()
