"""pasar's settings: environment variables, an optional TOML file, and defaults, in that order.

Every setting is an environment variable named ``PASAR_<FIELD>`` (``PASAR_HOME``, ``PASAR_MODEL``,
``PASAR_STORE_URL`` ...). The same keys, lower-case and without the prefix, may be written in a TOML
file: ``$PASAR_CONFIG`` if set, else ``$PASAR_HOME/config.toml``. ``pasar doctor`` prints the
values in force; docs/configuration.md lists them all.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"  # chosen by the scorecard: docs/models.md


def default_home() -> Path:
    return Path(os.environ.get("PASAR_HOME") or Path.home() / ".pasar").expanduser()


def config_file_path() -> Path:
    """Where the optional TOML config file is read from."""
    explicit = os.environ.get("PASAR_CONFIG")
    return Path(explicit).expanduser() if explicit else default_home() / "config.toml"


class Settings(BaseSettings):
    """All of pasar's settings. Field descriptions are the documentation."""

    model_config = SettingsConfigDict(env_prefix="PASAR_", extra="ignore")

    home: Path = Field(
        default_factory=default_home,
        description="Directory for pasar's own files: the model registry, the store, caches.",
    )
    model: str = Field(
        DEFAULT_MODEL,
        description="Model used when a command is given no --model: a registered name, a GGUF "
        "file, a Hugging Face directory or an http(s):// OpenAI-compatible base URL.",
    )
    engine: str | None = Field(
        None,
        description="Engine forced for every model (llamacpp, hf, http), except the apps' "
        "models, which only their own engine runs (vision folders, taskbot). Unset: chosen from "
        "the model (GGUF -> llamacpp, HF directory -> hf, URL -> http).",
    )
    data_dir: Path = Field(
        Path("../shared/data"),
        description="The shared data folder: retail/db.json, ntrex/, corpus/, images/. The "
        "default data file of every command is under it.",
    )
    store_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store (e.g. postgresql+psycopg://user@host/db). "
        "Unset: SQLite file store.db under PASAR_HOME.",
    )
    n_ctx: int = Field(
        2048, description="Context window, in tokens, for locally run models (llamacpp, hf)."
    )
    parallel: int = Field(
        8,
        ge=1,
        description="Conversations a local llama.cpp model decodes together (continuous "
        "batching: each step advances all of them for little more than the cost of one). Each "
        "holds up to n_ctx tokens of cache.",
    )
    queue_limit: int = Field(
        64,
        ge=0,
        description="Requests that may wait for a llama.cpp model whose sequences are all busy; "
        "beyond it `pasar serve` answers 503 with Retry-After.",
    )
    tool_format: Literal["auto", "json", "template"] = Field(
        "auto",
        description="How a llama.cpp model is given tools: `json` (pasar's portable protocol: "
        "the tool list in a system message, answers constrained to JSON), `template` (the "
        "model's own chat template and <tool_call> tags, a call held valid by a grammar; "
        "Qwen2.5 and other Hermes-style templates), or `auto` (the model card's choice, else "
        "json).",
    )
    threads: int | None = Field(
        None,
        description="CPU threads for llama.cpp. Unset: every core (llama-cpp-python's own "
        "default is half of them, which decodes ~1.5x slower on 2 cores).",
    )
    http_api_key: str | None = Field(
        None,
        description="API key sent to http:// models that have no key of their own. Unset: the "
        "OPENAI_API_KEY variable if present.",
    )
    http_timeout: float = Field(
        120.0, description="Seconds to wait for an http model's answer before giving up."
    )

    host: str = Field("127.0.0.1", description="Address `pasar serve` listens on.")
    port: int = Field(8000, description="Port `pasar serve` listens on.")
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins allowed to call the API from a browser, as JSON: ["https://a.b"].',
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description='Host names `pasar serve` answers to, as JSON: ["shop.example.com"]. Always '
        'allowed: localhost, 127.0.0.1, [::1] and --host. "*" allows any (not advised).',
    )
    max_request_bytes: int = Field(
        4 * 1024 * 1024, description="Largest request body `pasar serve` accepts (413 beyond)."
    )
    taskbot_demo_sign_in: bool = Field(
        False,
        description="Let Taskbot users sign in by chat (email, or name and zip) on a server "
        "with keys: a demo mode. Off: the customer comes from the caller, a `backend` key "
        "sending X-Pasar-Customer. A server without keys (local use) always allows it.",
    )
    rate_limit_per_minute: int = Field(
        600,
        description="Requests per minute per client when no API keys exist (each key has its "
        "own limit, set by `pasar keys create --rate-limit`).",
    )
    token_limit_per_minute: int = Field(
        100_000,
        ge=1,
        description="Prompt and completion tokens per minute per client of `pasar serve` (each "
        "key, or each address when no keys exist); 429 beyond, besides the request limit.",
    )

    @field_validator("n_ctx")
    @classmethod
    def _positive_ctx(cls, value: int) -> int:
        if value < 64:
            raise ValueError(f"n_ctx={value} is too small; use at least 64 tokens (default 2048)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml)

    @property
    def allowed_hosts_resolved(self) -> list[str]:
        """The Host names the server answers to: loopback, the bind address, and the setting."""
        return ["localhost", "127.0.0.1", "[::1]", self.host, *self.allowed_hosts]

    @property
    def store_url_resolved(self) -> str:
        return self.store_url or f"sqlite:///{self.home / 'store.db'}"


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests that change variables call cache_clear()."""
    return Settings()


def data_path(*parts: str) -> Path:
    """A file or folder under the shared data folder (``PASAR_DATA_DIR``)."""
    return get_settings().data_dir.joinpath(*parts)
