"""Taskbot sessions and who the customer is, against a real server and store.

Before: sessions were found by a hash of the transcript alone, so any key (or any end user of
one key) that sent someone's conversation continued it, signed in, with a change waiting for
"yes"; and any user key could sign in as any customer by typing their email.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from pasar.store.commerce import get_order, import_retail, load_retail_json
from pasar.store.keys import create_key

DB = Path(__file__).parents[2].parent / "shared" / "data" / "retail" / "db.json"
EMAIL = "yusuf.khan7390@example.com"  # owns the pending order #W1787190
YUSUF = "yusuf_khan_7091"
OTHER_EMAIL = "liam.li8523@example.com"  # owns the pending order #W1130240


def serve(make_server, tmp_path: Path, scopes: dict[str, str], **settings: Any):
    server = make_server(f"sqlite:///{tmp_path / 's.db'}", **settings)
    import_retail(server.store, load_retail_json(DB))
    keys = {n: create_key(server.store, name=n, scope=s)[0] for n, s in scopes.items()}
    server.app.state.pasar._auth_checked = -1e9
    api = {
        n: openai.OpenAI(base_url=f"{server.url}/v1", api_key=k, max_retries=0)
        for n, k in keys.items()
    }
    return server, api


def test_a_replayed_transcript_starts_a_new_session(make_server, tmp_path: Path) -> None:
    server, api = serve(
        make_server, tmp_path, {"owner": "user", "attacker": "user"}, taskbot_demo_sign_in=True
    )
    conversation: dict[str, str] = {}

    def say(who: str, messages: list[dict[str, str]], **extra: Any) -> str:
        answer = api[who].chat.completions.create(
            model="taskbot-flows", messages=messages, extra_body=extra or None
        )
        conversation.setdefault(who, answer.model_extra["conversation_id"])
        return answer.choices[0].message.content or ""

    # The owner signs in and asks to cancel; the agent summarises and waits for a yes.
    messages = [{"role": "user", "content": f"I want to cancel an order. My email is {EMAIL}"}]
    messages.append({"role": "assistant", "content": say("owner", messages)})
    messages.append({"role": "user", "content": "Order #W1787190, I no longer need it."})
    summary = say("owner", messages, conversation_id=conversation["owner"])
    assert "#W1787190" in summary, summary
    messages.append({"role": "assistant", "content": summary})
    yes = [*messages, {"role": "user", "content": "Yes, please go ahead."}]

    # The attacker replays the whole transcript and says yes: a new session, not signed in.
    reply = say("attacker", yes)
    assert get_order(server.store, order_id="#W1787190")["status"] == "pending", reply
    # With the owner's conversation id: not theirs, 404.
    with pytest.raises(openai.NotFoundError):
        say("attacker", yes, conversation_id=conversation["owner"])
    # The owner's own transcript without the conversation id (another end user of the same
    # key who saw it): a new session too.
    say("owner", yes)
    assert get_order(server.store, order_id="#W1787190")["status"] == "pending"
    # The owner's yes in their conversation works: their session was not taken.
    say("owner", yes, conversation_id=conversation["owner"])
    assert get_order(server.store, order_id="#W1787190")["status"] == "cancelled"


def test_with_keys_the_customer_comes_from_a_backend_key(make_server, tmp_path: Path) -> None:
    server, api = serve(make_server, tmp_path, {"app": "user", "shop": "backend"})
    ask = [{"role": "user", "content": f"Cancel order #W1130240, my email is {OTHER_EMAIL}"}]
    # A user key cannot sign anyone in by chat, nor name a customer.
    with pytest.raises(openai.PermissionDeniedError, match="X-Pasar-Customer"):
        api["app"].chat.completions.create(model="taskbot-flows", messages=ask)
    with pytest.raises(openai.PermissionDeniedError, match="backend key"):
        api["app"].chat.completions.create(
            model="taskbot-flows", messages=ask, extra_headers={"X-Pasar-Customer": YUSUF}
        )
    # The marketplace's server names the signed-in customer; typing another customer's email
    # does not switch to them.
    as_yusuf = {"X-Pasar-Customer": YUSUF}
    answer = api["shop"].chat.completions.create(
        model="taskbot-flows", messages=ask, extra_headers=as_yusuf
    )
    reply = answer.choices[0].message.content or ""
    assert "only help the account" in reply, reply
    cid = answer.model_extra["conversation_id"]
    messages = [*ask, {"role": "assistant", "content": reply}]
    messages.append({"role": "user", "content": "Yes, please go ahead."})
    api["shop"].chat.completions.create(
        model="taskbot-flows",
        messages=messages,
        extra_headers=as_yusuf,
        extra_body={"conversation_id": cid},
    )
    assert get_order(server.store, order_id="#W1130240")["status"] == "pending"
    # Their own order, in a fresh conversation, is served without any sign-in.
    mine = [{"role": "user", "content": "Cancel order #W1787190, I no longer need it."}]
    answer = api["shop"].chat.completions.create(
        model="taskbot-flows", messages=mine, extra_headers=as_yusuf
    )
    summary = answer.choices[0].message.content or ""
    assert "#W1787190" in summary, summary
    mine += [
        {"role": "assistant", "content": summary},
        {"role": "user", "content": "Yes, please go ahead."},
    ]
    api["shop"].chat.completions.create(
        model="taskbot-flows",
        messages=mine,
        extra_headers=as_yusuf,
        extra_body={"conversation_id": answer.model_extra["conversation_id"]},
    )
    assert get_order(server.store, order_id="#W1787190")["status"] == "cancelled"
    # A customer the store does not have: 404, not a session.
    with pytest.raises(openai.NotFoundError):
        api["shop"].chat.completions.create(
            model="taskbot-flows", messages=mine[:1], extra_headers={"X-Pasar-Customer": "nobody"}
        )
