"""`python -m search evaluate`: how good a model is, measured with the product's own classifier and probe.

    data.py       the inputs: an image folder (DIR/<class>/*.jpg), a class-name file, a template file,
                  a captions file (JSON Lines); every problem one DatasetError naming the file and the fix
    runs.py       zero-shot, few-shot (linear probe) and retrieval runs over search.classify
    cli.py        the subcommands, the tables and --json: every message the command prints
    classes/, templates/   Russian class names and prompt templates written for this project

Nothing heavy is imported until a run starts: `python -m search models` stays torch-free.
"""
