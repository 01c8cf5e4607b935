"""PostgreSQL quotes a rejected value in its error text (``DETAIL: Key (content)=(…) already
exists``): neither the server's log nor its answer may repeat it."""

from __future__ import annotations

import signal

import httpx
import psycopg
from conftest import new_postgres_database, start_serve

SECRET = "card 4111 1111 1111 1111 exp 12/29"


def test_a_rejected_value_stays_out_of_the_log_and_the_answer(postgres_server, pasar_home):
    store_url = new_postgres_database(postgres_server)
    server, url = start_serve(store_url, pasar_home)
    try:
        # A constraint the store refuses the second copy of a message with: PostgreSQL's
        # error then names the message's text in its DETAIL line.
        conninfo = store_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("CREATE UNIQUE INDEX uq_test_content ON messages (content)")
        body = {
            "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": SECRET}],
            "max_tokens": 1,
        }
        first = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
        assert first.status_code == 200, first.text
        refused = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
        assert refused.status_code == 500
        assert refused.json()["error"]["code"] == "store_error"
        assert SECRET not in refused.text
        streamed = httpx.post(f"{url}/v1/chat/completions", json=body | {"stream": True})
        assert streamed.status_code == 200 and "store_error" in streamed.text
        assert SECRET not in streamed.text.split('"content"')[0]  # past the answer itself
    finally:
        server.send_signal(signal.SIGINT)
        _, log = server.communicate(timeout=30)
    assert "uq_test_content" in log  # the error is logged, with the constraint it broke
    assert SECRET not in log, log[-3000:]
    assert "4111" not in log


def test_the_scrubber_keeps_the_cause_and_drops_the_values() -> None:
    from pasar.store.db import scrub_database_text

    text = (
        '(psycopg.errors.InvalidTextRepresentation) invalid input syntax for type integer: "s1"\n'
        "CONTEXT:  unnamed portal parameter $1 = 's1'\n"
        "[SQL: SELECT 1 WHERE 1 = %(x)s]\n[SQL parameters hidden due to hide_parameters=True]"
    )
    scrubbed = scrub_database_text(text)
    assert "s1" not in scrubbed
    assert 'for type integer: "***"' in scrubbed and "[SQL: SELECT 1 WHERE 1 = %(x)s]" in scrubbed
    unique = (
        'duplicate key value violates unique constraint "uq"\nDETAIL:  Key (a)=(s2\ns3) exists.'
    )
    assert scrub_database_text(unique).startswith(
        'duplicate key value violates unique constraint "uq"'
    )
    assert "s2" not in scrub_database_text(unique) and "s3" not in scrub_database_text(unique)
