"""The agents as served models: ``taskbot`` (the guided agent: the flows, asking the default model
what their keywords miss; the best agent measured in docs/taskbot.md), ``taskbot-llm`` (the
tool-calling LLM agent on the default model) and ``taskbot-flows`` (the flows agent), for
``pasar serve``, its web UI, any OpenAI client and ``pasar chat -m taskbot-flows``.
``engine_type.py`` registers them as the ``taskbot`` engine type, so ``load_engine`` loads them
like any other model.

The chat API is stateless: each request carries the whole conversation. An agent's state (the
authenticated user, the flow's slots, the change waiting for a yes) lives in memory under a
hash of the caller (the API key), the conversation id the server issued (the client sends it
back) and the conversation so far; the next request of the same caller, with the same id and
the same earlier messages, continues it. Anything else (a restart, another replica, an edited
history, a request without the id, another caller's transcript or id) starts a new session,
whose user must be signed in again: the policy holds whatever the client sends.

Who the customer is: with keys, the marketplace has signed them in already, so a ``backend``
key names them (``X-Pasar-Customer``) and chat sign-in is refused; only a demo mode (or a
server without keys, for local use) lets the user sign in by email or name and zip. Changes are
made in the server's store, as with ``pasar taskbot chat``; ``pasar store import`` loads the
data.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pasar.apps.taskbot.environment import Environment
from pasar.apps.taskbot.evaluation import Agent, AgentFactory
from pasar.cache import BoundedCache
from pasar.languages import LANGUAGE_NAMES, detect_language
from pasar.models.engine import Engine, SamplingParams
from pasar.models.types import ChatChunk, ChatResult, Message, Usage
from pasar.store.db import Store


@dataclass(frozen=True)
class Caller:
    """Who is calling, set by the server per request."""

    key: str = ""  # the API key's id ("" on a server without keys)
    conversation: str = ""  # the conversation id the server issued
    customer: str | None = None  # the signed-in customer a backend key vouches for
    chat_sign_in: bool = True  # may the user sign in by chat (demo mode, or no keys)


CALLER: ContextVar[Caller] = ContextVar("taskbot_caller", default=Caller())  # noqa: B039 (frozen)


def conversation_key(messages: list[Message], caller: Caller = Caller()) -> str:
    """The hash a session is kept under: the caller, the conversation id and the user and
    assistant turns."""
    turns = [[m["role"], m["content"]] for m in messages if m["role"] in ("user", "assistant")]
    who = [caller.key, caller.conversation, caller.customer]
    return hashlib.sha256(json.dumps([who, turns], ensure_ascii=False).encode()).hexdigest()


@dataclass
class Session:
    env: Environment
    agent: Agent
    lock: threading.Lock = field(default_factory=threading.Lock)


class TaskbotEngine(Engine):
    """A customer-service agent behind the engine contract. Tool calls happen inside; the
    client gets the agent's reply. At most ``max_sessions`` conversations of at most
    ``max_session_bytes`` together (their agents' messages) are kept, least recent dropped
    first: a flood of conversations cannot grow memory without bound."""

    kind = "taskbot"
    native_tools = True  # so a client's tools reach _complete, which refuses them

    def __init__(
        self,
        name: str,
        store: Store,
        new_agent: AgentFactory,
        *,
        llm: Engine | None = None,
        owns_store: bool = False,
        max_sessions: int = 1024,
        max_session_bytes: int = 64 * 2**20,
    ):
        super().__init__(name)
        self.store = store
        self.new_agent = new_agent
        self.llm = llm  # the model the agent asks (guided, llm)
        self.owns_store = owns_store  # opened for this engine: closed with it
        self._sessions: BoundedCache[str, Session] = BoundedCache(max_sessions, max_session_bytes)

    @property
    def version(self) -> str | None:
        """The weights version of the model the agent asks; the flows agent has none."""
        return self.llm.version if self.llm is not None else None

    def close(self) -> None:
        if self.owns_store:
            self.store.close()

    def _session(self, earlier: list[Message], text: str, caller: Caller) -> Session:
        session = self._sessions.pop(conversation_key(earlier, caller))
        if session is None:
            detected = detect_language(text)
            language = detected if detected in LANGUAGE_NAMES else "en"
            env = Environment(self.store, chat_sign_in=caller.chat_sign_in)
            if caller.customer is not None:
                env.sign_in(caller.customer)
            session = Session(env, self.new_agent(env, language))
        return session

    def _keep(self, key: str, session: Session, transcript: list[Message]) -> None:
        said = getattr(session.agent, "messages", transcript)  # the LLM agent's tool turns too
        size = len(json.dumps(said, ensure_ascii=False, default=str).encode())
        self._sessions.put(key, session, size=size)

    def reply(self, messages: list[Message]) -> str:
        """The agent's answer to the last message, which must be the user's."""
        if messages[-1]["role"] != "user":
            raise ValueError(f"{self.name} answers a user: end messages with a user message")
        earlier, text = messages[:-1], messages[-1]["content"]
        caller = CALLER.get()
        session = self._session(earlier, text, caller)
        with session.lock:
            session.env.user_says(text)
            answer = session.agent.respond(text)
            session.env.agent_says(answer)
        after = [*messages, {"role": "assistant", "content": answer}]
        self._keep(conversation_key(after, caller), session, after)
        return answer

    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult:
        if json_schema is not None or tools:
            raise ValueError(
                f"{self.name} calls the store's tools itself and answers in text: "
                "leave out tools and response_format"
            )
        return ChatResult(self.reply(messages), "stop", Usage(0, 0), self.name)

    def _stream(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> Iterator[ChatChunk]:
        result = self._complete(messages, params, json_schema, None)
        yield ChatChunk(result.text, result.finish_reason, result.usage)


def taskbot_engine(
    agent: str, name: str, store: Store, llm: Callable[[], Engine], **options: Any
) -> TaskbotEngine:
    """The ``guided`` or ``llm`` agent (on ``llm()``) or the ``flows`` agent, as an engine named
    ``name``; ``options`` go to ``TaskbotEngine``."""
    if agent == "flows":
        from pasar.apps.taskbot.flows import FlowsAgent

        return TaskbotEngine(
            name, store, lambda env, language: FlowsAgent(env, language), **options
        )
    if agent not in ("guided", "llm"):
        raise ValueError(f"taskbot agent {agent!r}: use guided, llm or flows")
    engine = llm()
    if agent == "guided":
        from pasar.apps.taskbot.guided import GuidedAgent
        from pasar.apps.taskbot.understanding import Understanding

        def guided(env: Environment, language: str) -> Agent:
            return GuidedAgent(env, language, understanding=Understanding(engine))

        return TaskbotEngine(name, store, guided, llm=engine, **options)
    from pasar.apps.taskbot.llm_agent import LLMAgent

    def tool_calling(env: Environment, language: str) -> Agent:
        return LLMAgent(engine, env, language)

    return TaskbotEngine(name, store, tool_calling, llm=engine, **options)
