"""`python -m search evaluate`: how good a model is, measured with the product's own classifier and probe.

    data.py       the inputs: an image folder (DIR/<class>/*.jpg), a class-name file, a template file,
                  a captions file (JSON Lines); every problem one DatasetError naming the file and the fix
    runs.py       zero-shot, few-shot (linear probe) and retrieval runs over search.classify
    cli.py        the subcommands, the tables and --json: every message the command prints
    classes/, templates/   Russian class names and prompt templates written for this project

Nothing heavy is imported until a run starts: `python -m search models` stays torch-free.

CLIP_benchmark is not the engine: its unpinned torchvision and open_clip_torch make pip replace the
project's torch with another version's CUDA build (README.md, Evaluating a model); its metrics are
the few lines of search/classify/metrics.py, counted the same way.
"""
