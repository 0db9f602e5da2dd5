"""The methods an RPC server answers, by name, and how one parsed request is carried out.

Plain methods answer over HTTP and WebSocket; a subscription registers a subscribe method (which
opens a `Subscription` on the WebSocket and answers its id) and an unsubscribe method.

Each of the node's methods declares the names of its parameters when it is registered; a call
with more positional parameters than that, or a named parameter not among them, is refused with
INVALID_PARAMS before the handler runs (`chain.service.rpc.params.check_signature`). A method may
also be declared unsafe: a server that serves only safe methods answers it as not found.

A method is unsafe when a stranger calling it could harm the node or its owner beyond the load of
answering: it changes how the node itself behaves (its peers, its keys, its logging), writes to
its keystore, or reveals what only the operator should see (the addresses and scores of its
peers). Reading the chain, submitting signed transactions and uploading blobs are safe: they are
what the node is public for, and are paid for or limited (transaction fees, the blob store's
limits, the transport's per-address limits). A node listening on a public address serves unsafe
methods only with `--rpc-methods unsafe`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from chain.service.rpc.errors import INVALID_REQUEST, METHOD_NOT_FOUND, RpcError
from chain.service.rpc.params import check_signature
from chain.service.rpc.protocol import Params, Request, invoke
from chain.service.rpc.subscriptions import Session, Subscription

MethodHandler = Callable[[Params], object | Awaitable[object]]
SubscriptionHandler = Callable[[Params, Subscription], object | Awaitable[object]]


@dataclass(frozen=True)
class Method:
    """A plain method's registration: its handler, parameter names (None: unchecked), safety."""

    handler: MethodHandler
    params: tuple[str, ...] | None = None
    unsafe: bool = False


@dataclass(frozen=True)
class Subscribe:
    """A subscribe method's registration: its notification and unsubscribe method."""

    notification: str
    unsubscribe: str
    handler: SubscriptionHandler
    params: tuple[str, ...] | None = None
    unsafe: bool = False


@dataclass(frozen=True)
class Unsubscribe:
    """An unsubscribe method's registration, naming its subscribe method."""

    subscribe: str
    unsafe: bool = False


class RpcMethods:
    """The methods a server answers, by name; `rpc_methods` is always among them."""

    def __init__(self) -> None:
        self._entries: dict[str, Method | Subscribe | Unsubscribe] = {}
        self.add("rpc_methods", self._rpc_methods, ())

    def add(
        self,
        name: str,
        handler: MethodHandler,
        params: Sequence[str] | None = None,
        *,
        unsafe: bool = False,
    ) -> None:
        """Register a method; the handler gets the params (a list or a dict) and returns a result.

        `params` names its parameters in order: calls with others are refused before the handler
        runs (None leaves the checking to the handler; the node's methods all declare theirs).
        A handler may be async. It raises RpcError to answer with that error, ValueError or
        TypeError to answer INVALID_PARAMS with its message; anything else is logged and answered
        INTERNAL_ERROR without details.
        """
        self._claim(name)
        self._entries[name] = Method(handler, None if params is None else tuple(params), unsafe)

    def add_subscription(
        self,
        subscribe: str,
        notification: str,
        unsubscribe: str,
        handler: SubscriptionHandler,
        params: Sequence[str] | None = None,
        *,
        unsafe: bool = False,
    ) -> None:
        """Register a WebSocket-only subscription: its subscribe and unsubscribe methods.

        The server creates the Subscription, calls the handler with it (the handler registers it
        wherever notifications come from, and may send some at once), then answers the subscribe
        call with the subscription id. `unsubscribe` takes [id] and answers true or false.
        """
        if len({subscribe, notification, unsubscribe}) != 3:
            raise ValueError("subscribe, notification and unsubscribe names must differ")
        if not notification:
            raise ValueError("notification name must not be empty")
        self._claim(subscribe)
        self._claim(unsubscribe)
        declared = None if params is None else tuple(params)
        self._entries[subscribe] = Subscribe(notification, unsubscribe, handler, declared, unsafe)
        self._entries[unsubscribe] = Unsubscribe(subscribe, unsafe)

    def names(self) -> list[str]:
        """All method names, sorted, subscribe and unsubscribe methods included."""
        return sorted(self._entries)

    def unsafe_names(self) -> list[str]:
        """The names of the methods registered as unsafe, sorted."""
        return sorted(name for name, entry in self._entries.items() if entry.unsafe)

    def lookup(self, name: str) -> Method | Subscribe | Unsubscribe | None:
        """The registration for `name`, or None."""
        return self._entries.get(name)

    def _claim(self, name: str) -> None:
        if not name:
            raise ValueError("method name must not be empty")
        if name in self._entries:
            raise ValueError(f"RPC method {name} is already registered")

    def _rpc_methods(self, params: Params) -> dict[str, list[str]]:
        return {"methods": self.names()}


async def execute(
    methods: RpcMethods, request: Request, session: Session | None, *, allow_unsafe: bool = True
) -> tuple[object, Subscription | None]:
    """Carry out `request` (over WebSocket `session`, None over HTTP): its result, and the
    subscription it opened if any; raises RpcError. Unsafe methods only with `allow_unsafe`."""
    entry = methods.lookup(request.method)
    if entry is None:
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {request.method}")
    if entry.unsafe and not allow_unsafe:
        raise RpcError(
            METHOD_NOT_FOUND,
            f"Method not found: {request.method} is unsafe, and this node serves it only with "
            "--rpc-methods unsafe",
        )
    if isinstance(entry, Method):
        if entry.params is not None:
            check_signature(request.params, entry.params)
        return await invoke(request.method, entry.handler, request.params), None
    if session is None:
        raise RpcError(
            METHOD_NOT_FOUND,
            f"{request.method} is a subscription method: it needs a WebSocket connection",
        )
    if isinstance(entry, Unsubscribe):
        return session.unsubscribe(request.method, request.params), None
    if request.is_notification:
        # Nobody would learn the subscription's id.
        raise RpcError(INVALID_REQUEST, "Invalid request: a subscribe call needs an id")
    if entry.params is not None:
        check_signature(request.params, entry.params)
    subscription = session.open_subscription(entry.notification, entry.unsubscribe)
    try:
        await invoke(request.method, entry.handler, request.params, subscription)
    except BaseException:
        subscription.finish()
        raise
    return subscription.id, subscription
