"""Chat clients (OpenAI-compatible and Gemini) against loopback fakes that speak each wire format."""

from __future__ import annotations

import json

import httpx
import pytest

from media_pipeline.llm import GeminiChat, chat_provider
from media_pipeline.llm.base import estimate_tokens
from media_pipeline.llm.prompting import parse_json
from media_pipeline.providers.http import CallRecord, ProviderClient, ProviderError, RetryPolicy
from media_pipeline.providers.ratelimit import FileBucketStore, RateLimiter
from media_pipeline.providers.registry import Calls

from .fake_providers import FakeProviders, blocked, garbage, prompt_of, status

KEY = "sk-llm-SECRET-abcdef0123456789"
FAST = RetryPolicy(base=0.01, cap=0.05)
SYSTEM = "You write short video ideas. Answer in JSON."
USER = "Transcript: a cat plays the piano for ten minutes."


@pytest.fixture
def fake():
    with FakeProviders(api_key=KEY) as fake:
        fake.chat_reply = lambda request: json.dumps({"ideas": ["cat piano"], "user": prompt_of(request)[1]})
        yield fake
    assert not fake.errors


def chat_model(fake, kind="openai", *, records=None, key=KEY, model=None, fallback=None, limiter=None):
    conf = fake.settings(
        api_key=key,
        LLM_MODEL=model or chat_provider(kind).settings["LLM_MODEL"],
        LLM_FALLBACK_MODEL=fallback,
        PROVIDER_TIMEOUT=5,
    )
    calls = Calls(retry=FAST, limiter=limiter, on_call=records.append if records is not None else None)
    return chat_provider(kind).build(conf, calls)


def test_openai_chat_sends_the_chat_completions_request_and_reads_the_reply(fake):
    records: list[CallRecord] = []
    reply = chat_model(fake, records=records).complete(system=SYSTEM, user=USER, max_tokens=300, temperature=0.2)
    assert json.loads(reply.text) == {"ideas": ["cat piano"], "user": USER}
    assert (reply.model, reply.provider) == ("gpt-4o-mini", "openai")
    assert reply.prompt_tokens == len(SYSTEM + USER) // 4 and reply.completion_tokens == len(reply.text) // 4
    (served,) = fake.requests_to("chat")
    assert served.path == "/v1/chat/completions"
    assert served.headers["authorization"] == f"Bearer {KEY}"
    assert served.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        "max_tokens": 300,
        "temperature": 0.2,
        "response_format": {"type": "json_object"},
    }
    (record,) = records
    assert (record.provider, record.operation, record.status, record.ok) == ("openai", "llm", 200, True)
    assert record.tokens == estimate_tokens(SYSTEM + USER) + 300


def test_openai_chat_without_json_mode_and_a_json_hint_when_the_prompt_lacks_one(fake):
    model = chat_model(fake)
    model.complete(system="Be brief.", user="Hello", json_mode=False)
    model.complete(system="Be brief.", user="Hello", json_mode=True)
    plain, json_mode = fake.requests_to("chat")
    assert "response_format" not in plain.json
    assert plain.json["messages"][0]["content"] == "Be brief."
    # OpenAI answers HTTP 400 to JSON mode when no message mentions JSON.
    assert "json" in json_mode.json["messages"][0]["content"].lower()


def test_gemini_sends_generate_content_with_the_key_in_a_header_and_reads_the_reply(fake):
    records: list[CallRecord] = []
    reply = chat_model(fake, "gemini", records=records).complete(system=SYSTEM, user=USER, max_tokens=256)
    assert json.loads(reply.text)["ideas"] == ["cat piano"]
    assert (reply.model, reply.provider) == ("gemini-2.5-flash", "gemini")
    assert reply.prompt_tokens == len(SYSTEM + USER) // 4 and reply.completion_tokens == len(reply.text) // 4
    (served,) = fake.requests_to("gemini")
    assert served.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert served.headers["x-goog-api-key"] == KEY and served.query == {}
    assert served.json == {
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": USER}]}],
        "generationConfig": {"maxOutputTokens": 256, "temperature": 0.4, "responseMimeType": "application/json"},
    }
    assert records[0].path == "models/gemini-2.5-flash:generateContent"


def test_gemini_joins_answer_parts_and_skips_thoughts():
    client = ProviderClient(name="gemini", base_url="http://127.0.0.1:9/v1beta")
    data = {
        "candidates": [
            {
                "content": {"parts": [{"text": "thinking…", "thought": True}, {"text": '{"a": '}, {"text": "1}"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3},
    }
    response = httpx.Response(200, json=data, request=httpx.Request("POST", "http://127.0.0.1:9/"))
    reply = GeminiChat(client, model="gemini-x")._read(response, "gemini-x", "llm")
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ('{"a": 1}', 12, 3)
    client.close()


def test_a_blocked_gemini_answer_is_a_sentence_and_not_retried(fake):
    fake.script("gemini", blocked("SAFETY"))
    with pytest.raises(ProviderError) as caught:
        chat_model(fake, "gemini").complete(system=SYSTEM, user=USER)
    assert (
        caught.value.message == "The language model service (Gemini) refused to answer this request (blocked: SAFETY)."
    )
    assert caught.value.kind == "blocked"
    assert len(fake.requests_to("gemini")) == 1


def test_an_openai_content_filter_is_a_sentence(fake):
    fake.script("chat", blocked())
    with pytest.raises(ProviderError) as caught:
        chat_model(fake).complete(system=SYSTEM, user=USER)
    assert caught.value.message == "The language model service refused to answer this request (content filter)."


def test_garbage_is_a_sentence(fake):
    fake.script("chat", garbage())
    with pytest.raises(ProviderError) as caught:
        chat_model(fake).complete(system=SYSTEM, user=USER)
    assert caught.value.message == "The language model service sent an answer we could not read."


def test_an_unknown_model_falls_back_and_the_reply_says_who_answered(fake):
    fake.unknown_models = {"gpt-gone"}
    records: list[CallRecord] = []
    reply = chat_model(fake, model="gpt-gone", fallback="gpt-4o-mini", records=records).complete(
        system=SYSTEM, user=USER
    )
    assert reply.model == "gpt-4o-mini"
    assert [r.model for r in fake.requests_to("chat")] == ["gpt-gone", "gpt-4o-mini"]
    assert [(r.status, r.ok) for r in records] == [(404, False), (200, True)]


def test_a_model_that_keeps_failing_falls_back_after_its_retries(fake):
    fake.script("gemini", *[status(503)] * 4)
    reply = chat_model(fake, "gemini", model="gemini-2.5-pro", fallback="gemini-2.5-flash").complete(
        system=SYSTEM, user=USER
    )
    assert reply.model == "gemini-2.5-flash"
    assert [r.model for r in fake.requests_to("gemini")] == ["gemini-2.5-pro"] * 4 + ["gemini-2.5-flash"]


def test_a_refused_key_does_not_fall_back(fake):
    with pytest.raises(ProviderError) as caught:
        chat_model(fake, key="sk-wrong-000000000", fallback="gpt-3.5").complete(system=SYSTEM, user=USER)
    assert caught.value.message == "The language model service refused our key (HTTP 401); check OPENAI_API_KEY."
    assert len(fake.requests_to("chat")) == 1
    assert "sk-wrong-000000000" not in caught.value.detail + caught.value.message


def test_gemini_answers_a_bad_key_with_400_and_we_still_say_it_is_the_key(fake):
    with pytest.raises(ProviderError) as caught:
        chat_model(fake, "gemini", key="AIza-wrong-key-123").complete(system=SYSTEM, user=USER)
    assert (
        caught.value.message == "The language model service (Gemini) refused our key (HTTP 400); check GEMINI_API_KEY."
    )
    assert "AIza-wrong-key-123" not in caught.value.detail


def test_the_limiter_is_asked_for_the_estimated_tokens(fake, tmp_path):
    limiter = RateLimiter("llm-tpm", tpm=600, token_burst=900, store=FileBucketStore(tmp_path), max_wait=1)
    records: list[CallRecord] = []
    chat_model(fake, limiter=limiter, records=records).complete(system=SYSTEM, user=USER, max_tokens=100)
    assert records[0].tokens == estimate_tokens(SYSTEM + USER) + 100
    # ~775 tokens left; the next asks for ~860 and would wait ~9 s at 10 tokens a second.
    with pytest.raises(ProviderError) as caught:
        chat_provider("openai").build(
            fake.settings(api_key=KEY, LLM_MODEL="m", LLM_FALLBACK_MODEL=None, PROVIDER_TIMEOUT=5),
            Calls(retry=FAST, limiter=limiter),
        ).complete(system=SYSTEM, user="x" * 3000, max_tokens=100)
    assert caught.value.kind == "busy"
    assert len(fake.requests_to("chat")) == 1


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError):
        chat_provider("claude")


def test_parse_json_finds_the_object_in_what_small_models_send():
    assert parse_json('{"a": 1}') == {"a": 1}
    assert parse_json('```json\n{"a": [1, 2]}\n```') == {"a": [1, 2]}
    assert parse_json('Sure! Here it is: {"a": 2} Hope it helps.') == {"a": 2}
    with pytest.raises(ValueError):
        parse_json("no json here")


# --- structured output ---------------------------------------------------------------------------------------


def test_openai_asks_for_output_by_schema(fake):
    from media_pipeline.ideas.schema import output_schema
    from tests.fake_providers import schema_of

    schema = output_schema("image_carousel")
    chat_model(fake).complete(system=SYSTEM, user=USER, schema=schema, operation="piece:image_carousel")
    (served,) = fake.requests_to("chat")
    rf = served.json["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "image_carousel" and rf["json_schema"]["strict"]
    sent = schema_of(served.json)
    assert "title" not in sent  # the name travels as json_schema.name
    assert sent["required"] == ["title", "caption", "slides", "hashtags"]
    assert sent["properties"]["slides"]["items"]["required"] == ["slide_number", "heading", "text"]
    assert served.status == 200  # the fake holds the schema to OpenAI's strict rules


def test_a_schema_openai_would_refuse_gets_its_400_and_the_answer_comes_in_json_mode(fake):
    loose = {"title": "loose", "type": "object", "properties": {"a": {"type": "string"}}}  # not strict-valid
    reply = chat_model(fake).complete(system=SYSTEM, user=USER, schema=loose)
    assert json.loads(reply.text)["ideas"] == ["cat piano"]
    first, second = fake.requests_to("chat")
    assert first.status == 400 and first.json["response_format"]["type"] == "json_schema"
    assert (second.status, second.json["response_format"]) == (200, {"type": "json_object"})


def test_a_server_without_structured_output_gets_plain_json_mode_once(fake):
    from media_pipeline.ideas.schema import output_schema

    fake.refuse_schemas = True
    try:
        reply = chat_model(fake).complete(system=SYSTEM, user=USER, schema=output_schema("tweet"))
    finally:
        fake.refuse_schemas = False
    assert json.loads(reply.text)["ideas"] == ["cat piano"]
    first, second = fake.requests_to("chat")
    assert (first.status, second.status) == (400, 200)
    assert second.json["response_format"] == {"type": "json_object"}


def test_gemini_asks_for_output_by_json_schema(fake):
    from media_pipeline.ideas.schema import output_schema
    from tests.fake_providers import schema_of

    chat_model(fake, "gemini").complete(system=SYSTEM, user=USER, schema=output_schema("ideas"))
    (served,) = fake.requests_to("gemini")
    config = served.json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    sent = schema_of(served.json)
    assert sent == config["responseJsonSchema"] and "title" not in sent
    assert sent["properties"]["ideas"]["items"]["properties"]["kind"]["enum"] == ["reel", "image_carousel", "tweet"]
    assert served.status == 200


def test_ollama_sends_the_schema_as_format_on_its_own_api(fake):
    from media_pipeline.ideas.schema import output_schema
    from tests.fake_providers import schema_of

    model = chat_model(fake, "ollama")
    reply = model.complete(system=SYSTEM, user=USER, max_tokens=200, schema=output_schema("reel"))
    assert json.loads(reply.text)["ideas"] == ["cat piano"]
    assert (reply.model, reply.provider) == ("llama3.2", "ollama")
    assert reply.prompt_tokens == len(SYSTEM + USER) // 4
    model.complete(system=SYSTEM, user=USER, json_mode=True)
    with_schema, plain = fake.requests_to("ollama")
    assert with_schema.path == "/api/chat" and "authorization" not in with_schema.headers
    assert with_schema.json["stream"] is False and with_schema.json["options"]["num_predict"] == 200
    sent = schema_of(with_schema.json)
    assert sent["required"][:3] == ["title", "hook", "caption"] and "title" not in sent
    assert plain.json["format"] == "json"


def test_ollama_unknown_model_is_a_sentence(fake):
    fake.unknown_models.add("llama3.2")
    try:
        with pytest.raises(ProviderError) as caught:
            chat_model(fake, "ollama").complete(system=SYSTEM, user=USER)
    finally:
        fake.unknown_models.discard("llama3.2")
    assert caught.value.status == 404 and "Ollama" in caught.value.message
