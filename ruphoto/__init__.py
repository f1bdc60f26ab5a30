"""`ruphoto`, the console script (pyproject.toml's [project.scripts]): every command of
`python -m indexer` (build, watch, search, ...) and `ruphoto ui` (`python -m ui`), under one name.

    ruphoto build ~/Pictures
    ruphoto search "рыжий кот на диване"
    ruphoto ui

The top of the layers: it may import indexer and ui, and nothing imports it.
"""
