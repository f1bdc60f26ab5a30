"""Model name or folder -> a local checkpoint folder: the folder itself, the hub cache, or a download."""

from __future__ import annotations

import logging
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from ..commands import module_command
from ..constants import (
    CONFIG_FILE,
    DEFAULT_MODEL,
    DEMO_MODEL,
    HUB_ORGANISATION,
    LEGACY_ORGANISATIONS,
    TOKENIZER_FILE,
    WEIGHTS_FILES,
)
from ..errors import ModelNotFoundError, ModelProblem
from ..i18n import _
from ..paths import demo_model_dir
from ..quiet import logger_quieted
from ..settings import MODEL_VAR, settings
from .config import PUBLISHED_CONFIGS
from .folder import missing_files

log = logging.getLogger(__name__)

DOWNLOADED_FILES = (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILES[-1])
DEFAULT_ENDPOINT = "https://huggingface.co"
# Long enough for a slow but working connection to open, short enough that an offline machine
# fails at once (the whole failing run stays under 2 s).
HUB_CHECK_TIMEOUT_S = 1.5


def requested_model(name_or_path: str | os.PathLike[str] | None) -> str:
    """The model the user asked for: the argument, else $RUPHOTO_MODEL (or $RUCLIP_MODEL), else the default."""
    if name_or_path is not None and str(name_or_path).strip():
        return str(name_or_path).strip()
    return settings().model


def published_name(name: str) -> str | None:
    """'ruclip-vit-base-patch32-384' or 'ai-forever/ruclip-...' -> the bare published name."""
    organisation, _slash, bare = name.rpartition("/")
    if organisation in ("", HUB_ORGANISATION, *LEGACY_ORGANISATIONS) and bare in PUBLISHED_CONFIGS:
        return bare
    return None


def loaded_name(requested: str, folder: Path) -> str:
    """What a model loaded for `requested` from `folder` is called: its published name, "demo",
    or its folder's absolute path."""
    if (published := published_name(requested)) is not None:
        return published
    if requested == DEMO_MODEL and folder == demo_model_dir():
        return DEMO_MODEL
    return str(Path(requested).expanduser().resolve())


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "~", os.sep)) or (os.sep in name and published_name(name) is None)


def resolve_model(name_or_path: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """Return a folder holding config.json, the weights and bpe.model for the requested model.

    The name `demo` is the packaged demo model (a folder of that name is `./demo`); an existing
    folder is used as it is; a published name is looked up in the Hugging Face cache and downloaded
    (with a progress bar) when absent and `download` is true.
    """
    name = requested_model(name_or_path)
    folder = Path(name).expanduser()
    if name == DEMO_MODEL:
        demo = demo_model_dir()  # shipped in the package; see search.paths
        if not demo.is_dir() or missing_files(demo):
            raise ModelNotFoundError(
                _(
                    "The demo model is not in {demo}. It ships with the package; reinstall it, or re-create it "
                    "with: {value} demo-model"
                ).format(demo=demo, value=module_command("training")),
                ModelProblem.DEMO_MISSING,
            )
        return demo
    if folder.is_dir():
        _check_readable(folder)
        missing = missing_files(folder)
        if missing:
            raise ModelNotFoundError(
                _(
                    "Model folder {folder} is missing {join}. A ruCLIP folder holds {CONFIG_FILE}, {value} and "
                    "{TOKENIZER_FILE}, as published at "
                    "https://huggingface.co/{HUB_ORGANISATION}/{DEFAULT_MODEL}."
                ).format(
                    folder=folder,
                    join=", ".join(missing),
                    CONFIG_FILE=CONFIG_FILE,
                    value=WEIGHTS_FILES[-1],
                    TOKENIZER_FILE=TOKENIZER_FILE,
                    HUB_ORGANISATION=HUB_ORGANISATION,
                    DEFAULT_MODEL=DEFAULT_MODEL,
                ),
                ModelProblem.INCOMPLETE,
            )
        return folder
    bare = published_name(name)
    if bare is None:
        if _looks_like_path(name) or folder.exists():
            raise ModelNotFoundError(
                _("Model folder {folder} does not exist (or is not a folder).").format(folder=folder),
                ModelProblem.FOLDER_MISSING,
            )
        raise ModelNotFoundError(
            _(
                "Unknown model {name!r}. Use one of: {join}, {DEMO_MODEL!r} (offline, colours and shapes "
                "only), or the path of a folder with {CONFIG_FILE}, {value} and {TOKENIZER_FILE}."
            ).format(
                name=name,
                join=", ".join(PUBLISHED_CONFIGS),
                DEMO_MODEL=DEMO_MODEL,
                CONFIG_FILE=CONFIG_FILE,
                value=WEIGHTS_FILES[-1],
                TOKENIZER_FILE=TOKENIZER_FILE,
            ),
            ModelProblem.UNKNOWN_NAME,
        )
    return _hub_folder(bare, download=download)


def _check_readable(folder: Path) -> None:
    """A model folder or checkpoint file this user may not read is said as that (with the file), not
    as a missing file or a damaged checkpoint."""
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise ModelNotFoundError(
            _(
                "Model folder {folder} cannot be read ({value}). Check its permissions (it needs read and "
                "execute rights for you)."
            ).format(folder=folder, value=exc.strerror or exc),
            ModelProblem.UNREADABLE,
        ) from None
    for name in (CONFIG_FILE, TOKENIZER_FILE, *WEIGHTS_FILES):
        if name not in names:
            continue  # missing_files says what is missing
        try:
            with open(folder / name, "rb"):
                pass
        except OSError as exc:
            raise ModelNotFoundError(
                _("Model file {value} cannot be read ({value2}). Check its permissions (chmod a+r {value}).").format(
                    value=folder / name, value2=exc.strerror or exc
                ),
                ModelProblem.UNREADABLE,
            ) from None


def _hub_folder(name: str, *, download: bool) -> Path:
    # Imported here: huggingface_hub is only needed when a published name is used.
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id = f"{HUB_ORGANISATION}/{name}"
    try:
        paths = [Path(hf_hub_download(repo_id, f, local_files_only=True)) for f in DOWNLOADED_FILES]
        return paths[0].parent
    except LocalEntryNotFoundError:
        pass  # not (completely) cached yet
    if not download:
        raise ModelNotFoundError(_not_downloaded_message(name), ModelProblem.NOT_DOWNLOADED)
    # Without this check an offline machine waits out the hub client's retries (~25 s of warnings)
    # before failing; a connection attempt answers within HUB_CHECK_TIMEOUT_S.
    unreachable = hub_unreachable_reason()
    if unreachable is not None:
        raise ModelNotFoundError(_offline_message(name, unreachable), ModelProblem.DOWNLOAD_FAILED)
    log.info("downloading %s from the Hugging Face hub", repo_id)
    try:
        with _hub_warnings_silenced():
            # hf_hub_download shows a tqdm progress bar per file and resumes interrupted downloads.
            paths = [Path(hf_hub_download(repo_id, f)) for f in DOWNLOADED_FILES]
    except Exception as exc:  # DNS, HTTP, disk: all end in the same advice
        failed = _offline_message(name, _("the download failed ({exc})").format(exc=_failure_summary(exc)))
        raise ModelNotFoundError(failed, ModelProblem.DOWNLOAD_FAILED) from None
    return paths[0].parent


def _failure_summary(error: BaseException) -> str:
    """`Type: first line` of what went wrong. huggingface_hub wraps an HTTP error in a generic "cannot
    find the requested files" error: the wrapped one says what happened (404, proxy, TLS)."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    seen = 0
    while isinstance(error, LocalEntryNotFoundError) and (error.__cause__ or error.__context__) and seen < 5:
        error, seen = error.__cause__ or error.__context__, seen + 1
    text = str(error).strip()
    first_line = text.splitlines()[0].rstrip(" .") if text else ""
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__


def _hub_endpoint() -> str:
    """The hub's address as huggingface_hub uses it ($HF_ENDPOINT, else https://huggingface.co)."""
    from huggingface_hub import constants

    return str(getattr(constants, "ENDPOINT", "") or settings().hub_endpoint or DEFAULT_ENDPOINT).rstrip("/")


def _hub_offline_mode() -> bool:
    from huggingface_hub import constants

    return bool(getattr(constants, "HF_HUB_OFFLINE", False)) or settings().hub_offline


def _host_and_port(url: str, default_port: int) -> tuple[str, int] | None:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port or default_port


def _first_hop(endpoint: str) -> tuple[str, int] | None:
    """Where a download's connection goes first: the proxy from the environment, else the hub."""
    parts = urlsplit(endpoint)
    scheme = parts.scheme or "https"
    if parts.hostname and not urllib.request.proxy_bypass(parts.hostname):
        proxies = urllib.request.getproxies()
        proxy = proxies.get(scheme) or proxies.get("all")
        if proxy:
            return _host_and_port(proxy, 1080 if proxy.startswith("socks") else 80)
    return _host_and_port(endpoint, 443 if scheme == "https" else 80)


def hub_unreachable_reason(timeout_s: float = HUB_CHECK_TIMEOUT_S) -> str | None:
    """Why the Hugging Face hub cannot be reached now, or None when a TCP connection to it (or to
    the proxy a download would use) opens within `timeout_s`. Honours HF_HUB_OFFLINE and HF_ENDPOINT."""
    if _hub_offline_mode():
        return _("HF_HUB_OFFLINE is set, so nothing is downloaded")
    endpoint = _hub_endpoint()
    hop = _first_hop(endpoint)
    if hop is None:
        return _("the hub address {endpoint!r} is not a URL (HF_ENDPOINT)").format(endpoint=endpoint)
    host, port = hop
    outcome: list[OSError | None] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    # In a thread: resolving the name has no timeout of its own and can hang for many seconds on a
    # machine without network; a daemon thread left waiting does not keep the program alive.
    thread = threading.Thread(target=connect, name="hub-reachability", daemon=True)
    thread.start()
    thread.join(timeout_s)
    where = f"{host}:{port}"
    if not outcome:
        return _("the hub cannot be reached: {where} did not answer within {timeout_s:g} s").format(
            where=where, timeout_s=timeout_s
        )
    error = outcome[0]
    if error is None:
        return None
    detail = error.strerror or str(error) or type(error).__name__
    return _("the hub cannot be reached: {where}: {detail}").format(where=where, detail=detail)


@contextmanager
def _hub_warnings_silenced() -> Iterator[None]:
    """huggingface_hub logs every retry as a warning (twice, through its own handler and the root
    logger): the user gets one message at the end instead. Progress bars are not logging: they stay."""
    with logger_quieted("huggingface_hub"):
        yield


def _hub_cache() -> str:
    from huggingface_hub import constants

    return str(getattr(constants, "HF_HUB_CACHE", "") or "$HF_HOME/hub")


def _manual_download(name: str) -> str:
    url = f"https://huggingface.co/{HUB_ORGANISATION}/{name}"
    return _(
        "download {join} from {url} (on any machine with internet) into a folder and pass that "
        "folder as the model (--model FOLDER or {MODEL_VAR}=FOLDER), or try the offline demo with "
        "--model {DEMO_MODEL} (colours and shapes only)"
    ).format(join=", ".join(DOWNLOADED_FILES), url=url, MODEL_VAR=MODEL_VAR, DEMO_MODEL=DEMO_MODEL)


def _offline_message(name: str, reason: str) -> str:
    return _(
        "Model {name!r} is not in the local model cache ({value}) and cannot be downloaded: "
        "{reason}. Connect to the internet and run again (it is downloaded once), or {manual}."
    ).format(name=name, manual=_manual_download(name), value=_hub_cache(), reason=reason)


def _not_downloaded_message(name: str) -> str:
    return _(
        "Model {name!r} is not in the local model cache ({value}). Download it once with: {value2} "
        "download {name} (needs internet), or {manual}."
    ).format(name=name, manual=_manual_download(name), value=_hub_cache(), value2=module_command("search"))
