"""``TokenSource``: the one caching and refresh-ahead policy every token flow shares.

A source fetches a token on first use, caches it, and refreshes it ahead of its expiry by a single
caller while concurrent callers either keep using the still-valid token or wait for the new one
(no stampede on the token endpoint). A transient failure of the token endpoint (no answer, 429,
5xx) is asked again a few times; a refusal of the credentials is raised at once, and shared with
the callers that waited for it.

Errors leave :meth:`TokenSource.token` detached from the frames of the fetch (they hold form
bodies, headers and library exceptions carrying the credentials), and a forked child starts with
a fresh lock and no fetch in flight (Parsl's HighThroughputExecutor and Airflow's LocalExecutor
fork while another thread may be fetching).
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import math
import os
import random
import time
import weakref
from collections.abc import Callable

import anyio

from ..errors import AuthenticationError, ConfigurationError, FacilityError, detached
from .secret import Secret

__all__ = [
    "DEFAULT_MAX_REFRESH_LEAD",
    "DEFAULT_REFRESH_FRACTION",
    "DEFAULT_TOKEN_TIMEOUT",
    "TOKEN_FETCH_ATTEMPTS",
    "TRANSIENT_TOKEN_STATUSES",
    "Fetched",
    "TokenSource",
    "as_seconds",
]

logger = logging.getLogger("facility_common.auth")

#: Token-endpoint answers worth asking again (the endpoint is busy or restarting).
TRANSIENT_TOKEN_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Tries of one token fetch while its endpoint is unreachable or busy, and the backoff between.
TOKEN_FETCH_ATTEMPTS = 5
TOKEN_RETRY_DELAY = 0.25
TOKEN_RETRY_MAX_DELAY = 2.0
DEFAULT_REFRESH_FRACTION = 0.1
DEFAULT_MAX_REFRESH_LEAD = 30.0
DEFAULT_TOKEN_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class _Cached:
    """A fetched token and when to stop using it (monotonic clock; ``None`` = no known expiry)."""

    value: Secret
    expires_at: float | None
    refresh_at: float | None


@dataclasses.dataclass(frozen=True)
class Fetched:
    """What a source's fetch returns: the token and its remaining lifetime in seconds, if known."""

    value: Secret
    lifetime: float | None


def as_seconds(value: object) -> float | None:
    """Read an ``expires_in`` that may be a number or a numeric string; None when unusable."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _copy_error(error: FacilityError) -> FacilityError:
    """A fresh exception equal to ``error``, so concurrent waiters do not share one traceback."""
    copy = FacilityError.__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    return copy


#: Every live source, so a forked child can reset them (see :func:`_reset_after_fork`).
_LIVE: weakref.WeakSet[TokenSource] = weakref.WeakSet()


class TokenSource(abc.ABC):
    """Where an access token comes from; caches it and refreshes it ahead of expiry.

    Subclasses implement :meth:`_fetch`. This class decides when to call it: on first use, when
    the cached token reaches its refresh point (``expires - lead``, where the lead is
    ``refresh_fraction`` of the token's lifetime but at most ``max_refresh_lead`` seconds), when
    less than the caller's ``min_validity`` remains, when a subclass reports the token stale, and
    after :meth:`invalidate`. One caller fetches at a time; while it does, callers holding a
    still-valid token keep using it and callers without one wait.

    ``scheme`` is the word put before the token in ``Authorization`` ("Bearer"); an empty string
    sends the raw token, as some APIs expect.
    """

    scheme: str = "Bearer"
    #: True when :meth:`invalidate` can lead to a different token (worth retrying a 401).
    refreshable: bool = True

    def __init__(
        self,
        *,
        scheme: str = "Bearer",
        facility: str | None = None,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= refresh_fraction < 1:
            raise ConfigurationError("refresh_fraction must be in [0, 1)", facility=facility)
        if max_refresh_lead < 0:
            raise ConfigurationError("max_refresh_lead must not be negative", facility=facility)
        self.scheme = scheme
        self.facility = facility
        self.refresh_fraction = refresh_fraction
        self.max_refresh_lead = max_refresh_lead
        self._clock = clock
        self._cached: _Cached | None = None
        self._lock = anyio.Lock()
        self._attempts = 0
        self._failed: tuple[int, FacilityError] | None = None
        #: Successful fetches so far (for tests and benchmarks).
        self.fetch_count = 0
        _LIVE.add(self)

    @abc.abstractmethod
    async def _fetch(self) -> Fetched:
        """Obtain a new token. Raise :class:`AuthenticationError` or :class:`ConfigurationError`."""

    def _stale(self) -> bool:
        """Whether the cached token should be replaced for a reason other than its age."""
        return False

    def _lead(self, lifetime: float) -> float:
        return min(lifetime * self.refresh_fraction, self.max_refresh_lead)

    def _fresh(self, cached: _Cached | None, now: float, min_validity: float) -> bool:
        if cached is None:
            return False
        if cached.refresh_at is not None and now >= cached.refresh_at:
            return False
        if cached.expires_at is not None and cached.expires_at - now < min_validity:
            return False
        return not self._stale()

    @staticmethod
    def _usable(cached: _Cached | None, now: float, min_validity: float) -> bool:
        return cached is not None and (cached.expires_at is None or now + min_validity < cached.expires_at)

    def cached_token(self, *, min_validity: float = 0.0) -> str | None:
        """The cached token if :meth:`token` would return it without fetching, else None.

        Never waits: for synchronous callers (the sync facade's transport), which fetch through
        :meth:`token` on the event loop the source lives on when this returns None.
        """
        cached = self._cached
        if cached is not None and self._fresh(cached, self._clock(), min_validity):
            return cached.value.get_secret_value()
        return None

    async def token(self, *, min_validity: float = 0.0) -> str:
        """Return a valid access token, fetching or refreshing it when needed.

        ``min_validity`` asks for a token with at least that many seconds left (an API that
        refuses tokens about to expire); a fresh token is returned even if its whole lifetime is
        shorter. Any failure is raised as a :class:`FacilityError` without the frames or chained
        exceptions of the fetch.
        """
        cached = self._cached
        now = self._clock()
        if cached is not None and self._fresh(cached, now, min_validity):
            return cached.value.get_secret_value()
        if cached is not None and self._lock.locked() and self._usable(cached, now, min_validity):
            # Another caller is refreshing ahead of expiry; the current token is still good.
            return cached.value.get_secret_value()
        arrived_before = self._attempts
        async with self._lock:
            cached = self._cached
            if cached is not None and self._fresh(cached, self._clock(), min_validity):
                return cached.value.get_secret_value()
            failed = self._failed
            if failed is not None and failed[0] > arrived_before:
                # A fetch that started while this caller waited has just failed: share its outcome
                # instead of sending every waiter to the token endpoint in turn.
                raise _copy_error(failed[1])
            self._attempts += 1
            started = self._clock()
            fetched = await self._fetch_detached()
            if isinstance(fetched, FacilityError):
                self._failed = (self._attempts, fetched)
                raise fetched
            self._failed = None
            self.fetch_count += 1
            if fetched.lifetime is None:
                self._cached = _Cached(fetched.value, None, None)
            else:
                # Counted from before the request: the server's clock started during the round trip.
                lifetime = max(0.0, fetched.lifetime)
                expires_at = started + lifetime
                self._cached = _Cached(fetched.value, expires_at, expires_at - self._lead(lifetime))
            return fetched.value.get_secret_value()

    async def _fetch_detached(self) -> Fetched | FacilityError:
        """:meth:`_fetch_patiently`, its failure returned as an error to raise: detached from the
        fetch's frames and chained exceptions (they hold the credentials sent), and any other
        exception turned into :class:`AuthenticationError` naming its type only."""
        try:
            fetched = await self._fetch_patiently()
        except FacilityError as exc:
            return detached(exc)
        except Exception as exc:
            return AuthenticationError(
                f"{self!r} could not provide a token: {type(exc).__name__}", facility=self.facility
            )
        if not fetched.value:
            return AuthenticationError(f"{self!r} produced an empty token", facility=self.facility)
        return fetched

    async def _fetch_patiently(self) -> Fetched:
        """:meth:`_fetch`, asked again while the token endpoint is unreachable or busy (429/5xx).

        Asking twice only issues another token, so every transient failure is safe to retry; a
        refusal of the credentials is raised at once.
        """
        for retry_number in range(TOKEN_FETCH_ATTEMPTS):
            try:
                return await self._fetch()
            except AuthenticationError as exc:
                if not exc.transient or retry_number + 1 >= TOKEN_FETCH_ATTEMPTS:
                    raise
                delay = min(TOKEN_RETRY_MAX_DELAY, TOKEN_RETRY_DELAY * 2**retry_number)
                logger.debug("token endpoint busy or unreachable (%s); again in %.2f s", self.facility, delay)
                await anyio.sleep(delay * (1 + random.random() / 4))
        raise AssertionError("unreachable")  # pragma: no cover

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after the API refused it, so the next :meth:`token` fetches anew.

        Only the cached token is forgotten, and only if it is still ``token``: when several
        requests fail with the same old token, the first invalidation wins and the others keep
        the replacement.
        """
        cached = self._cached
        if cached is not None and cached.value.matches(token):
            self._cached = None

    def _after_fork_in_child(self) -> None:
        """Start the child with a free lock and no fetch in flight (the fetching thread is gone).

        The cached token stays: it is as valid in the child as in the parent. Subclasses holding
        connections drop them here without closing (the parent still uses them).
        """
        self._lock = anyio.Lock()
        self._failed = None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release what the source holds (HTTP or Globus clients). The default holds nothing."""

    def _describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"


def _reset_after_fork() -> None:
    for source in list(_LIVE):
        source._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_after_fork)
