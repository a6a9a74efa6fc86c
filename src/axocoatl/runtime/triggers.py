"""Inbound triggers: ``POST /hooks/{name}`` starts the configured workflow with the request as input.

A request is verified before anything runs: with a ``secret``, its ``x-axocoatl-signature`` must be
``sha256=<hex HMAC-SHA256(secret, "<x-axocoatl-timestamp>." + body)>`` and its timestamp within
``max_skew_secs`` of now, and the same signature is accepted once (receipts in the store, kept for the
window, so a replay is refused across restarts and processes); with an ``api_key``, the key must come
in ``x-api-key`` or ``Authorization: Bearer``. Either one passes when both are configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from axocoatl.config.schema import AxocoatlConfig, TriggerConfig
from axocoatl.core.errors import NotFound, Unauthorized, UsageError
from axocoatl.core.ids import Clock
from axocoatl.core.templating import render
from axocoatl.store import RunRecord, Store

SIGNATURE = "x-axocoatl-signature"
TIMESTAMP = "x-axocoatl-timestamp"

# Starts a run: (what, workflow, agent, input) -> its id and the task finishing it.
Starter = Callable[[str, str | None, str | None, str], Awaitable[tuple[str, "asyncio.Task[RunRecord]"]]]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender puts in ``x-axocoatl-signature``."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def trigger_of(config: AxocoatlConfig, name: str) -> TriggerConfig:
    found = next((t for t in config.triggers if t.name == name and t.enabled), None)
    if found is None:
        # The endpoint is public: the hint names no configured trigger.
        raise NotFound(f"no trigger '{name}'", hint="configure it under `triggers:` (and keep enabled: true)")
    return found


def request_values(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """What an input template sees: ``body`` (parsed JSON, else the text), ``raw`` and ``headers``."""
    text = body.decode("utf-8", errors="replace")
    parsed: Any = text
    with contextlib.suppress(ValueError):
        parsed = json.loads(text) if text.strip() else ""
    return {"body": parsed, "raw": text, "headers": {k.lower(): v for k, v in headers.items()}}


class InboundTriggers:
    def __init__(self, config: Callable[[], AxocoatlConfig], store: Store, clock: Clock) -> None:
        self._config = config
        self._store = store
        self._clock = clock

    async def fire(
        self, name: str, body: bytes, headers: Mapping[str, str], start: Starter
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """Verify a request to trigger ``name`` and start its run; raises NotFound, Unauthorized or UsageError."""
        trigger = trigger_of(self._config(), name)
        lowered = {k.lower(): v for k, v in headers.items()}
        receipt = await self._verify(trigger, body, lowered)
        task = render(trigger.input, request_values(body, lowered))
        try:
            return await start(f"trigger '{name}'", trigger.workflow, trigger.agent, task)
        except BaseException:
            if receipt is not None:  # the run did not start: the sender may try the same request again
                await self._store.drop_receipt(name, receipt)
            raise

    async def _verify(self, trigger: TriggerConfig, body: bytes, headers: dict[str, str]) -> str | None:
        """Raise unless the request is authentic; returns the receipt taken for a signed one."""
        if trigger.api_key is not None and _presented_key(headers, trigger.api_key.get_secret_value()):
            return None
        if trigger.secret is None:
            raise Unauthorized(
                f"trigger '{trigger.name}' needs its API key",
                hint="send it as x-api-key: KEY (or Authorization: Bearer KEY)",
            )
        presented, stamp = headers.get(SIGNATURE), headers.get(TIMESTAMP, "")
        how = f"sign '<{TIMESTAMP}>.<body>' with HMAC-SHA256 under the trigger's secret: {SIGNATURE}: sha256=<hex>"
        if presented is None or not stamp:
            raise Unauthorized(f"trigger '{trigger.name}' needs a signed request", hint=how)
        try:
            at = float(stamp)
        except ValueError:
            raise Unauthorized(f"{TIMESTAMP} '{stamp[:40]}' is not Unix seconds", hint=how) from None
        expected = sign(trigger.secret.get_secret_value(), stamp, body)
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Unauthorized(f"the signature of this request to trigger '{trigger.name}' is wrong", hint=how)
        now = self._clock.now()
        if abs(now - at) > trigger.max_skew_secs:
            raise Unauthorized(
                f"the request's timestamp is {abs(now - at):.0f} s from this daemon's clock "
                f"(at most {trigger.max_skew_secs} s are accepted)",
                hint="sign with the current time (and check the sender's clock)",
            )
        digest = hashlib.sha256(presented.encode()).hexdigest()
        window = 2 * trigger.max_skew_secs
        if not await self._store.take_receipt(trigger.name, digest, now=now, forget_before=now - window):
            raise UsageError(
                f"this request to trigger '{trigger.name}' was already received (a replay)",
                hint="sign each request anew, with its own timestamp",
            )
        return digest


def _presented_key(headers: dict[str, str], key: str) -> bool:
    candidates = [headers.get("x-api-key")]
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        candidates.append(authorization[7:].strip())
    return any(c is not None and hmac.compare_digest(c.encode(), key.encode()) for c in candidates)
