"""Outbound webhooks: events of the log POSTed, signed, to the configured URLs through a durable outbox.

Each webhook reads the event log from its own cursor; the deliveries it makes of the events
commit with the cursor's move (store/sqlite/deliveries.py), so whichever process produced an
event, and however many route at once, each event becomes one delivery per matching webhook.
A delivery is attempted by the process that claims it (a lease), until a 2xx answer or until
its attempts run out: then it is a dead letter, listed by `webhooks deliveries --failed` and
sent again by `webhooks redeliver ID`. Only the URL in the current config is ever called.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from axocoatl.config.schema import AxocoatlConfig, WebhookConfig
from axocoatl.core import events as ev
from axocoatl.core.errors import NotFound, UsageError
from axocoatl.core.events import RuntimeEvent
from axocoatl.core.ids import Clock, iso, new_id
from axocoatl.runtime.bus import EventBus
from axocoatl.store import DeliveryRecord, DeliveryResult, LoggedEvent, NewDelivery, Store

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

POLL = 1.0  # how often the outbox is read for events other processes logged, and for retries come due
CLAIM_BATCH = 16  # deliveries attempted at once by one process
ROUTE_BATCH = 500  # events read from the log in one routing transaction
LEASE_MARGIN = 30.0  # a claim outlives the attempt's timeout by this much (then another process may retry)
SIGNATURE = "x-axocoatl-signature"
RETRYABLE = frozenset({408, 429})


def consumer(hook: WebhookConfig) -> str:
    return f"webhook:{hook.name}"


def signature(secret: str, body: bytes) -> str:
    """The ``x-axocoatl-signature`` header of a body: ``sha256=`` and the hex HMAC-SHA256 under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(hook: WebhookConfig, delivery_id: str, logged: LoggedEvent) -> str:
    e = logged.event
    return json.dumps(
        {
            "delivery_id": delivery_id,
            "webhook": hook.name,
            "event_id": e.event_id,
            "event_type": e.type,
            "produced_by": e.produced_by,
            "run_id": e.run_id,
            "workflow_id": logged.workflow_id,
            "agent_id": e.agent_id,
            "timestamp": iso(e.ts),
            "payload": e.payload,
        },
        separators=(",", ":"),
        default=str,
    )


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait that a Retry-After header asks for (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def backoff(hook: WebhookConfig, attempts: int) -> float:
    """The delay after the ``attempts``-th failed attempt: doubling from backoff_secs, ±25 % jitter, capped."""
    delay = hook.backoff_secs * 2 ** min(attempts - 1, 40)
    return float(min(hook.max_backoff_secs, delay * random.uniform(0.75, 1.25)))


class WebhookDispatcher:
    """Routes logged events into the outbox and attempts the deliveries due (see the module docstring)."""

    def __init__(
        self, config: Callable[[], AxocoatlConfig], store: Store, clock: Clock, bus: EventBus, owner: str
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._bus = bus
        self._owner = owner
        self._client: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        # Cluster mode: due deliveries become work items (runtime/cluster/deliveries.py) instead of being
        # claimed here; whichever node takes one claims and attempts it (``attempt_one``).
        self.dispatch: Callable[[DeliveryRecord], Awaitable[None]] | None = None

    def hooks(self) -> dict[str, WebhookConfig]:
        return {h.name: h for h in self._config().webhooks if h.enabled}

    async def prime(self) -> None:
        """Start new webhooks at the end of the event log (call before this process logs any event)."""
        hooks = self.hooks()
        if hooks:
            await self._store.prime_consumers([consumer(h) for h in hooks.values()])

    def listen(self) -> Callable[[], None]:
        """Wake the loop when this process logs an event (other processes' events are polled)."""

        def on_event(event: RuntimeEvent) -> None:
            if event.type in ev.LOGGED_TYPES:
                self._wake.set()

        return self._bus.subscribe(on_event, tokens=False)

    async def route(self) -> int:
        """Enqueue the deliveries of every event logged since the last pass; returns how many events were read."""
        total = 0
        for hook in self.hooks().values():
            while True:
                read = await self._store.route_events(
                    consumer(hook), self._derive(hook), now=self._clock.now(), limit=ROUTE_BATCH
                )
                total += read
                if read < ROUTE_BATCH:
                    break
        return total

    def _derive(self, hook: WebhookConfig) -> Callable[[list[LoggedEvent]], list[NewDelivery]]:
        filters = hook.events

        def derive(logged: list[LoggedEvent]) -> list[NewDelivery]:
            out = []
            for item in logged:
                e = item.event
                if ev.matches_filter(filters, e.type, e.payload):
                    delivery_id = new_id("dlv")
                    body = body_of(hook, delivery_id, item)
                    out.append(NewDelivery(delivery_id, hook.name, item.seq, e.event_id, e.type, body))
            return out

        return derive

    async def deliver_due(self) -> int:
        """Claim the deliveries due now and attempt each once; returns how many were attempted. In cluster mode,
        hand them to the work queue instead (returns 0: the nodes that take them attempt them)."""
        hooks = self.hooks()
        now = self._clock.now()
        if self.dispatch is not None:
            for delivery in await self._store.due_deliveries(list(hooks), now=now, limit=ROUTE_BATCH):
                await self.dispatch(delivery)
            return 0
        lease = max((h.timeout_secs for h in hooks.values()), default=0.0) + LEASE_MARGIN
        claimed = await self._store.claim_deliveries(
            list(hooks), owner=self._owner, now=now, lease_until=now + lease, limit=CLAIM_BATCH
        )
        return await self._attempt_claimed(hooks, claimed)

    async def attempt_one(self, row_id: int) -> bool:
        """Claim one delivery (a work item) and attempt it; False when it is not due or another node holds it."""
        hooks = self.hooks()
        now = self._clock.now()
        lease = max((h.timeout_secs for h in hooks.values()), default=0.0) + LEASE_MARGIN
        claimed = await self._store.claim_deliveries(
            list(hooks), owner=self._owner, now=now, lease_until=now + lease, limit=1, row_id=row_id
        )
        return await self._attempt_claimed(hooks, claimed) > 0

    async def _attempt_claimed(self, hooks: dict[str, WebhookConfig], claimed: list[DeliveryRecord]) -> int:
        if not claimed:
            return 0
        try:
            await asyncio.gather(*(self._attempt(hooks[d.webhook], d) for d in claimed))
        except BaseException:
            # Cancelled (the process is closing): what was not attempted is free for another process at once.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._store.release_deliveries([d.id for d in claimed], owner=self._owner))
            raise
        return len(claimed)

    async def _attempt(self, hook: WebhookConfig, delivery: DeliveryRecord) -> None:
        result = await self._send(hook, delivery)
        if result.outcome == "retry" and delivery.attempts + 1 >= hook.max_attempts:
            error = f"gave up after {delivery.attempts + 1} attempts: {result.error}"
            result = DeliveryResult("failed", result.status_code, error)
        kept = await self._store.finish_delivery(delivery.id, owner=self._owner, result=result, now=self._clock.now())
        if not kept:
            log.warning("webhook %s: delivery %s was reclaimed meanwhile", hook.name, delivery.delivery_id)
            return
        kind = {"delivered": "WebhookDelivered", "retry": "WebhookRetrying", "failed": "WebhookFailed"}[result.outcome]
        log_level = logging.INFO if result.outcome == "delivered" else logging.WARNING
        log.log(log_level, "webhook %s: delivery %s %s", hook.name, delivery.delivery_id, result.error or "delivered")
        payload = {
            "delivery_id": delivery.delivery_id,
            "webhook": hook.name,
            "event_type": delivery.event_type,
            "attempt": delivery.attempts + 1,
            "status_code": result.status_code,
            "error": result.error,
            "retry_at": iso(result.retry_at),
        }
        self._bus.publish(RuntimeEvent(kind, self._clock.now(), produced_by=f"webhook:{hook.name}", payload=payload))

    async def _send(self, hook: WebhookConfig, delivery: DeliveryRecord) -> DeliveryResult:
        import httpx  # ~0.15 s to import: only a project with webhooks sends any

        body = delivery.body.encode()
        now = self._clock.now()
        headers = {name: value.get_secret_value() for name, value in hook.headers.items()}
        headers.update(
            {
                "content-type": "application/json",
                "user-agent": "axocoatl-webhooks",
                "x-axocoatl-event": delivery.event_type,
                "x-axocoatl-delivery": delivery.delivery_id,
                "x-axocoatl-timestamp": str(int(now)),
            }
        )
        if hook.secret is not None:
            headers[SIGNATURE] = signature(hook.secret.get_secret_value(), body)
        attempts = delivery.attempts + 1
        try:
            response = await self._http().post(hook.url, content=body, headers=headers, timeout=hook.timeout_secs)
        except httpx.TimeoutException:
            error = f"no answer within {hook.timeout_secs:g} s"
            return DeliveryResult("retry", None, error, now + backoff(hook, attempts))
        except httpx.HTTPError as exc:
            return DeliveryResult("retry", None, f"{type(exc).__name__}: {exc}", now + backoff(hook, attempts))
        code = response.status_code
        if 200 <= code < 300:
            return DeliveryResult("delivered", code, None)
        error = f"HTTP {code}"
        if 300 <= code < 400:
            where = response.headers.get("location", "")
            return DeliveryResult("failed", code, f"{error}: redirect to {where!r} not followed (fix the url)")
        if code >= 500 or code in RETRYABLE:
            asked = retry_after(response.headers.get("retry-after"), now)
            delay = min(hook.max_backoff_secs, asked) if asked is not None else backoff(hook, attempts)
            return DeliveryResult("retry", code, error, now + delay)
        return DeliveryResult("failed", code, f"{error} (not retried: the receiver refused the request)")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    async def tick(self) -> float:
        """One pass: route, attempt what is due; returns when to look again."""
        await self.route()
        while await self.deliver_due() == CLAIM_BATCH:
            pass
        due = await self._store.next_delivery_due(list(self.hooks()))
        wake = self._clock.now() + POLL
        return wake if due is None else min(wake, due)

    async def run(self) -> None:
        """The loop of a process that delivers: until ``stop`` (or cancelled)."""
        unsubscribe = self.listen()
        try:
            while not self._stopping:
                try:
                    wake = await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a database hiccup must not stop deliveries: try again shortly
                    log.exception("webhook pass failed")
                    wake = self._clock.now() + 5.0
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, wake - self._clock.now()))
        finally:
            unsubscribe()

    def stop(self) -> None:
        """End the loop after its current pass (a pass cancelled halfway could leave a claim to run out)."""
        self._stopping = True
        self._wake.set()

    async def flush(self, budget: float) -> None:
        """Before a short-lived process exits: route its events and attempt what is due once, within ``budget``
        seconds; what is left (retries, a stalled receiver) stays in the outbox for the daemon."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(budget):
                await self.route()
                await self.deliver_due()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------ the dead-letter list

    async def deliveries(self, *, failed: bool = False, limit: int = 50) -> list[DeliveryRecord]:
        return await self._store.list_deliveries(status="failed" if failed else None, limit=limit)

    async def redeliver(self, delivery_id: str) -> DeliveryRecord:
        """Queue a delivery again from its first attempt; it goes to the URL its webhook has now."""
        found = await self._store.find_deliveries(delivery_id)
        exact = [d for d in found if d.delivery_id == delivery_id]
        if exact:
            found = exact
        if not found:
            raise NotFound(
                f"no webhook delivery '{delivery_id}'",
                hint="list them with `axocoatl webhooks deliveries` (add --failed for the dead letters)",
            )
        if len(found) > 1:
            raise UsageError(
                f"'{delivery_id}' matches several deliveries ({', '.join(d.delivery_id for d in found[:3])}...)",
                hint="give more of the id",
            )
        delivery = found[0]
        if delivery.status == "pending":
            raise UsageError(
                f"delivery '{delivery.delivery_id}' is still pending (attempt {delivery.attempts + 1} is queued)",
                hint="redeliver is for failed or delivered ones; see `axocoatl webhooks deliveries`",
            )
        hooks = self.hooks()
        if delivery.webhook not in hooks:
            raise UsageError(
                f"delivery '{delivery.delivery_id}' belongs to webhook '{delivery.webhook}', "
                "which is not configured (or not enabled)",
                hint=f"add webhooks[{delivery.webhook}] back (enabled: true) to send it again",
            )
        again = await self._store.redeliver(delivery.id, now=self._clock.now())
        assert again is not None
        self._wake.set()
        return again
