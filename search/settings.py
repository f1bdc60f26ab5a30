"""Settings: every environment variable the project reads, read in this one place.

Our own variables share one prefix, RUPHOTO_; the names of older releases (RUCLIP_...) are still
accepted, the new name winning when both are set:

    RUPHOTO_DATA            where data lives (the default index, the demo's index, a retrained demo
                            model: see search/paths.py); default ./data
    RUPHOTO_MODEL           the model when --model (or name_or_path) is not given: a published name
                            or a checkpoint folder; default ruclip-vit-base-patch32-384 (alias RUCLIP_MODEL)
    RUPHOTO_DEVICE          the default of the commands' --device: auto, cpu or cuda
    RUPHOTO_CACHE           this installation's small caches (the image suffixes); default
                            $XDG_CACHE_HOME/ruphoto-search, else ~/.cache/ruphoto-search
    RUPHOTO_NO_PREPACK      set (not 0): no prepacked Linear layers on x86-64 (alias RUCLIP_NO_PREPACK)
    RUPHOTO_DEFAULT_MALLOC  set (not 0): leave glibc's allocator alone (alias RUCLIP_DEFAULT_MALLOC)
    RUPHOTO_SEARCH_HELPER_IDLE  seconds a command-line search's warm helper waits for the next search
                            before it exits (indexer/search_client.py); 0: start none. Default 300
    RUPHOTO_NO_ONNX         set (not 0): encode with torch on a CPU too, not with ONNX Runtime
                            (search/clip/onnx_files.py)
    RUPHOTO_TAG_THRESHOLD   the share from which a zero-shot tag is a photo's (search/classify/tagging.py);
                            a change tags every photo again at the next build
    RUPHOTO_COMMAND         how the page's hints name the indexer's commands (`ruphoto ui` sets it for
                            the page's process: search/commands.py)
    RUPHOTO_TESSDATA        the folder of Tesseract's rus.traineddata and eng.traineddata (search/ocr/engine.py);
                            else Tesseract's own TESSDATA_PREFIX, else the usual system folders

The language of the terminal's messages follows the locale's own variables, read as GNU gettext reads
them (LANGUAGE, LC_ALL, LC_MESSAGES, LANG: the first one set): English where it names English,
Russian otherwise, unset and C included (message_language; search/i18n.py translates).

The hub's own variables stay huggingface_hub's (HF_ENDPOINT, HF_HUB_OFFLINE, HF_HOME): they are
read here for our messages and checks, and honoured by huggingface_hub itself; so is Ray's
RAY_ADDRESS (what `build --ray auto` joins). The two RAY_ variables the Ray engine sets for Ray
before it starts (indexer/engines/cluster.py) are writes, not settings.

settings() reads the environment afresh on each call (a dozen look-ups), so that a change a test or
a benchmark makes to os.environ is seen; it imports nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .constants import DEFAULT_MODEL, DEVICES
from .errors import RuClipError
from .i18n import _

PREFIX = "RUPHOTO_"
# The zero-shot tags' default threshold (search/classify/tagging.py says what it means; BENCHMARKS.md
# what it rests on). Kept here, not there: settings imports nothing heavy.
DEFAULT_TAG_THRESHOLD = 0.3
DATA_VAR = f"{PREFIX}DATA"
MODEL_VAR = f"{PREFIX}MODEL"
DEVICE_VAR = f"{PREFIX}DEVICE"
CACHE_VAR = f"{PREFIX}CACHE"
NO_PREPACK_VAR = f"{PREFIX}NO_PREPACK"
DEFAULT_MALLOC_VAR = f"{PREFIX}DEFAULT_MALLOC"
NO_ONNX_VAR = f"{PREFIX}NO_ONNX"
SEARCH_HELPER_IDLE_VAR = f"{PREFIX}SEARCH_HELPER_IDLE"
DEFAULT_SEARCH_HELPER_IDLE_S = 300.0
TAG_THRESHOLD_VAR = f"{PREFIX}TAG_THRESHOLD"
COMMAND_VAR = f"{PREFIX}COMMAND"  # set by `ruphoto ui` for the page's process (search/commands.py)
TESSDATA_VAR = f"{PREFIX}TESSDATA"
# The names older releases read (and the README documented): still accepted.
ALIASES = {
    MODEL_VAR: "RUCLIP_MODEL",
    NO_PREPACK_VAR: "RUCLIP_NO_PREPACK",
    DEFAULT_MALLOC_VAR: "RUCLIP_DEFAULT_MALLOC",
}
CACHE_FOLDER_NAME = "ruphoto-search"
_HF_TRUE = frozenset({"1", "on", "yes", "true"})  # how huggingface_hub reads a flag


class SettingsError(RuClipError):
    """An environment variable holds a value the program cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path  # RUPHOTO_DATA, else ./data
    data_dir_set: bool  # RUPHOTO_DATA is set (then a retrained demo model under it is preferred)
    model: str  # the model asked for when none is named (RUPHOTO_MODEL, else the default)
    model_source: str  # where `model` came from, for messages: "$RUPHOTO_MODEL", "$RUCLIP_MODEL" or "the default"
    device_asked: str  # RUPHOTO_DEVICE as set ("" when not): checked when `device` is read
    cache_dir: Path
    prepack: bool  # prepacked Linear layers allowed (RUPHOTO_NO_PREPACK not set)
    tune_malloc: bool  # glibc's allocator tuned for tensor reuse (RUPHOTO_DEFAULT_MALLOC not set)
    onnx: bool  # ONNX Runtime allowed for CPU encoding (RUPHOTO_NO_ONNX not set)
    hub_endpoint: str | None  # HF_ENDPOINT; None: huggingface_hub's default
    hub_offline: bool  # HF_HUB_OFFLINE
    ray_address: str  # RAY_ADDRESS (Ray's own): the cluster `build --ray auto` joins; "" when not set
    command: str = ""  # RUPHOTO_COMMAND: the program the page's hints name ("" when not set)
    tag_threshold_asked: str = ""  # RUPHOTO_TAG_THRESHOLD as set ("" when not): checked when read
    # Where Tesseract's language data is: RUPHOTO_TESSDATA, else TESSDATA_PREFIX (Tesseract's own
    # variable), else None (search/ocr/engine.py looks in the usual system folders).
    tessdata_dir: Path | None = None
    tessdata_source: str = ""  # the variable tessdata_dir came from, for messages ("" when none)
    search_helper_idle_asked: str = ""  # RUPHOTO_SEARCH_HELPER_IDLE as set ("" when not): checked when read

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings `environ` (default: os.environ) gives; SettingsError for an unusable value."""
        env = os.environ if environ is None else environ
        data = _value(env, DATA_VAR)
        model_var, model = _named(env, MODEL_VAR)
        cache = _value(env, CACHE_VAR)
        xdg = _value(env, "XDG_CACHE_HOME")
        tessdata_var, tessdata = next(
            ((name, value) for name in (TESSDATA_VAR, "TESSDATA_PREFIX") if (value := _value(env, name))), ("", "")
        )
        return cls(
            data_dir=Path(data).expanduser() if data else Path("data"),
            data_dir_set=bool(data),
            model=model or DEFAULT_MODEL,
            model_source=f"${model_var}" if model_var else _("the default"),
            device_asked=_value(env, DEVICE_VAR),
            cache_dir=Path(cache).expanduser() if cache else _cache_base(xdg) / CACHE_FOLDER_NAME,
            prepack=not _flag(env, NO_PREPACK_VAR),
            tune_malloc=not _flag(env, DEFAULT_MALLOC_VAR),
            onnx=not _flag(env, NO_ONNX_VAR),
            search_helper_idle_asked=_value(env, SEARCH_HELPER_IDLE_VAR),
            hub_endpoint=_value(env, "HF_ENDPOINT") or None,
            hub_offline=_value(env, "HF_HUB_OFFLINE").lower() in _HF_TRUE,
            ray_address=_value(env, "RAY_ADDRESS"),
            command=_value(env, COMMAND_VAR),
            tag_threshold_asked=_value(env, TAG_THRESHOLD_VAR),
            tessdata_dir=Path(tessdata).expanduser() if tessdata else None,
            tessdata_source=f"${tessdata_var}" if tessdata_var else "",
        )

    @property
    def device(self) -> str:
        """The default device (one of DEVICES); SettingsError when RUPHOTO_DEVICE names none. Checked
        here rather than when the settings are read, so that a wrong device spoils nothing else."""
        device = self.device_asked.lower() or DEVICES[0]
        if device not in DEVICES:
            raise SettingsError(
                _("{variable}={value!r} is not a device: set it to one of {devices} or unset it.").format(
                    variable=DEVICE_VAR, value=self.device_asked, devices=", ".join(DEVICES)
                )
            )
        return device

    @property
    def search_helper_idle_s(self) -> float:
        """Seconds the warm search helper waits (DEFAULT_SEARCH_HELPER_IDLE_S unless set; 0: none);
        SettingsError when RUPHOTO_SEARCH_HELPER_IDLE is not a number of seconds."""
        if not self.search_helper_idle_asked:
            return DEFAULT_SEARCH_HELPER_IDLE_S
        try:
            value = float(self.search_helper_idle_asked)
        except ValueError:
            value = -1.0
        if not 0.0 <= value < float("inf"):
            raise SettingsError(
                _(
                    "{variable}={value!r} is not a number of seconds: set it to 0 (no helper) or more (the "
                    "default is {default:g}), or unset it."
                ).format(
                    variable=SEARCH_HELPER_IDLE_VAR,
                    value=self.search_helper_idle_asked,
                    default=DEFAULT_SEARCH_HELPER_IDLE_S,
                )
            )
        return value

    @property
    def tag_threshold(self) -> float:
        """The zero-shot tags' threshold (DEFAULT_TAG_THRESHOLD unless set); SettingsError when
        RUPHOTO_TAG_THRESHOLD is not a number between 0 and 1."""
        if not self.tag_threshold_asked:
            return DEFAULT_TAG_THRESHOLD
        try:
            value = float(self.tag_threshold_asked)
        except ValueError:
            value = -1.0
        if not 0.0 < value < 1.0:
            raise SettingsError(
                _(
                    "{variable}={value!r} is not a share: set it to a number between 0 and 1 (the default "
                    "is {default}) or unset it."
                ).format(variable=TAG_THRESHOLD_VAR, value=self.tag_threshold_asked, default=DEFAULT_TAG_THRESHOLD)
            )
        return value


def settings() -> Settings:
    """The settings of this process's environment, as it is now."""
    return Settings.from_environment()


LANGUAGE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # GNU gettext's order


def message_language(environ: Mapping[str, str] | None = None) -> str:
    """The language of the terminal's messages: "en" when the first locale variable set (GNU
    gettext's order) names English ("en", "en_US.UTF-8", "en:ru"), else "ru": this program is for
    Russian speakers, so an unset locale, C or POSIX (a bare container, a cron job) and any other
    language get Russian."""
    env = os.environ if environ is None else environ
    for name in LANGUAGE_VARS:
        if value := _value(env, name):
            return "en" if value.lower().startswith("en") else "ru"
    return "ru"


def _cache_base(xdg: str) -> Path:
    return Path(xdg) if xdg else Path.home() / ".cache"


def _value(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _named(env: Mapping[str, str], name: str) -> tuple[str | None, str]:
    """(the variable that was set, its value): the RUPHOTO_ name first, then its old alias."""
    for variable in (name, ALIASES.get(name)):
        if variable is not None and (value := _value(env, variable)):
            return variable, value
    return None, ""


def _flag(env: Mapping[str, str], name: str) -> bool:
    """An opt-out: set to anything but "" or "0" (under its name or its old alias)."""
    return any(_value(env, variable) not in ("", "0") for variable in (name, ALIASES.get(name)) if variable)
