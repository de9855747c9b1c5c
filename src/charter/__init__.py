"""Charter: a constitution and the wishes of many people, turned into alignment data.

See ``ARCHITECTURE`` in the docs for the map; the packages are named after the
concepts: ``constitution``, ``backends``, ``prompts``, ``runs``, ``cli``.
"""

__version__ = "0.1.0"
