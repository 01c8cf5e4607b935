"""The agents as served models: ``taskbot`` (the LLM agent over the server's default model)
and ``taskbot-flows`` (the flows agent), for ``pasar serve``, its web UI and any OpenAI client.

The chat API is stateless: each request carries the whole conversation. An agent's state (the
authenticated user, the flow's slots, the change waiting for a yes) lives in memory under a
hash of the caller (the API key) and the conversation so far; the next request of the same
caller whose earlier messages hash the same continues it. A conversation this server does not
know (a restart, another replica, an edited history, another caller's transcript) starts a new
session, so the agent asks the user to authenticate again: the policy holds whatever the client
sends. Changes are made in the server's store, as with ``pasar taskbot chat``; ``pasar store
import`` loads the data.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pasar.apps.taskbot.environment import Environment
from pasar.apps.taskbot.evaluation import Agent, AgentFactory
from pasar.evaluate.languages import LANGUAGE_NAMES, detect_language
from pasar.models.engine import Engine, SamplingParams
from pasar.models.types import ChatChunk, ChatResult, Message, Usage
from pasar.store.db import Store

TASKBOT_MODELS = ("taskbot", "taskbot-flows")


# Who is calling: the server sets it per request (the API key's id). A session is kept under
# the caller too, so replaying another caller's transcript (a signed-in session, a change
# waiting for "yes") starts a new session that must authenticate again.
SESSION_SCOPE: ContextVar[str] = ContextVar("taskbot_session_scope", default="")


def conversation_key(messages: list[Message], scope: str = "") -> str:
    """The hash a session is kept under: the caller and the user and assistant turns."""
    turns = [[m["role"], m["content"]] for m in messages if m["role"] in ("user", "assistant")]
    return hashlib.sha256(json.dumps([scope, turns], ensure_ascii=False).encode()).hexdigest()


@dataclass
class Session:
    env: Environment
    agent: Agent
    lock: threading.Lock = field(default_factory=threading.Lock)


class TaskbotEngine(Engine):
    """A customer-service agent behind the engine contract. Tool calls happen inside; the
    client gets the agent's reply. ``max_sessions`` conversations are kept (least recent
    dropped first)."""

    kind = "taskbot"
    native_tools = True  # so a client's tools reach _complete, which refuses them

    def __init__(
        self, name: str, store: Store, new_agent: AgentFactory, *, max_sessions: int = 1024
    ):
        super().__init__(name)
        self.store = store
        self.new_agent = new_agent
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def _session(self, earlier: list[Message], text: str) -> Session:
        with self._lock:
            session = self._sessions.pop(conversation_key(earlier, SESSION_SCOPE.get()), None)
        if session is None:
            detected = detect_language(text)
            language = detected if detected in LANGUAGE_NAMES else "en"
            env = Environment(self.store)
            session = Session(env, self.new_agent(env, language))
        return session

    def _keep(self, key: str, session: Session) -> None:
        with self._lock:
            self._sessions[key] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    def reply(self, messages: list[Message]) -> str:
        """The agent's answer to the last message, which must be the user's."""
        if messages[-1]["role"] != "user":
            raise ValueError(f"{self.name} answers a user: end messages with a user message")
        earlier, text = messages[:-1], messages[-1]["content"]
        session = self._session(earlier, text)
        with session.lock:
            session.env.user_says(text)
            answer = session.agent.respond(text)
            session.env.agent_says(answer)
        after = [*messages, {"role": "assistant", "content": answer}]
        self._keep(conversation_key(after, SESSION_SCOPE.get()), session)
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


def taskbot_engine(name: str, store: Store, llm: Callable[[], Engine]) -> TaskbotEngine:
    """``taskbot`` (the LLM agent on ``llm()``) or ``taskbot-flows``."""
    if name == "taskbot-flows":
        from pasar.apps.taskbot.flows import FlowsAgent

        return TaskbotEngine(name, store, lambda env, language: FlowsAgent(env, language))
    if name == "taskbot":
        from pasar.apps.taskbot.llm_agent import LLMAgent

        engine = llm()
        return TaskbotEngine(name, store, lambda env, language: LLMAgent(engine, env, language))
    raise ValueError(f"{name!r} is not a taskbot model; use one of {', '.join(TASKBOT_MODELS)}")
