"""Values shared by every layer, importable without torch, faiss or SQLAlchemy.

The CLIs, the decoding workers and the page read these; the network, the tokenizer and the
checkpoint loader check against them. Each value lives here once.
"""

from __future__ import annotations

# --- models --------------------------------------------------------------------------------------
DEFAULT_MODEL = "ruclip-vit-base-patch32-384"
DEMO_MODEL = "demo"  # the small offline model this project trains (colours and shapes only)
HUB_ORGANISATION = "ai-forever"
# The checkpoints moved from the sberbank-ai organisation; both spellings of a repo id are accepted.
LEGACY_ORGANISATIONS = ("sberbank-ai",)

# --- checkpoint folders (the published layout) ---------------------------------------------------
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "bpe.model"
# Optional: the words a model was trained on (one per line; a first "# " line says what they cover).
# A text query with none of them is answered "this model does not know that" instead of ranked.
KNOWN_WORDS_FILE = "known_words.txt"
# Preference order: safetensors loads without unpickling; the published checkpoints ship the .bin.
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")

# --- tokens: ruCLIP's youtokentome vocabulary reserves these ids ---------------------------------
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

# --- pixels: OpenAI CLIP's normalisation, used by ruclip 0.0.2 when config.json has no mean/std -----
DEFAULT_MEAN = (0.48145466, 0.4578275, 0.40821073)
DEFAULT_STD = (0.26862954, 0.26130258, 0.27577711)

# --- where and how to run the encoders (the CLIs' --device / --precision / --text-precision) --------
DEVICES = ("auto", "cpu", "cuda")
# auto: fp16 autocast on CUDA, exact fp32 on a CPU; int8: the image tower quantised, CPU only.
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
# How query texts may be encoded: exactly, or with the int8 text transformer (CPU).
TEXT_PRECISIONS = ("fp32", "int8")
# Which photos a build reads the text of (indexer/ocr.py): those likely to hold text, all, none.
OCR_MODES = ("auto", "all", "off")

# --- image files ---------------------------------------------------------------------------------
# Formats Pillow decodes out of the box. HEIC/HEIF/AVIF join when their plugin is installed (see
# search.images.formats.register_optional_formats): a suffix we cannot decode would only add failures.
BASE_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
HEIF_SUFFIXES = frozenset({".heic", ".heif"})  # with pillow-heif
AVIF_SUFFIXES = frozenset({".avif"})  # with Pillow's own libavif decoder or a plugin
PLUGIN_IMAGE_SUFFIXES = HEIF_SUFFIXES | AVIF_SUFFIXES
# Camera RAW files, decoded with rawpy (LibRaw) when it is installed: its embedded preview or a
# half-size demosaic. DNG is Adobe's open RAW; the others are the cameras' own formats.
RAW_SUFFIXES = frozenset(
    {
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
        ".pef", ".ptx", ".srw", ".x3f", ".3fr", ".fff", ".iiq", ".erf", ".kdc", ".dcr", ".dcs", ".k25",
        ".mrw", ".mef", ".mos", ".raw", ".rwl", ".rwz", ".gpr", ".bay", ".cap", ".eip", ".mdc", ".ari",
    }
)  # fmt: skip

# Seconds one file may take to decode before its worker is stopped and the file fails as timed out
# (the build's --timeout default): a RAW that hangs LibRaw must not stall the build.
DECODE_TIMEOUT_S = 60.0

# EXIF tags read for the photo's date and camera (and written by the demo collection's generator).
EXIF_IFD = 0x8769  # pointer to the Exif sub-IFD
EXIF_DATE_TAKEN = 0x9003  # DateTimeOriginal, in the Exif sub-IFD
EXIF_DATE = 0x0132  # DateTime (last change), in IFD0: the fallback
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110
