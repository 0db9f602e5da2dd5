"""The node's JSON-RPC 2.0 server: HTTP and WebSocket on one port, Substrate's method names.

    methods.build_methods(node, test_rpc=) -> RpcMethods   every method, bound to an RpcNode
    transport.RpcServer(methods, host=, port=, sizes..., limits=RpcLimits, access=RpcAccess,
                        extra_routes=)
        await serve(task_status=)                       listen until cancelled; started(port)

Layers, lowest first: `errors` (codes and RpcError), `protocol` (JSON-RPC messages: requests,
batches, results and errors), `subscriptions` (a WebSocket's subscriptions and outgoing queue),
`registry` (RpcMethods: methods by name with their declared parameters and safety, and carrying
out one request), `limits` (connections per address and in all, the rate of calls, deadlines),
`access` (browser origins, Host names, unsafe methods), `websocket_stream` (close codes for bad
frames), `transport` (hypercorn on trio: connections, their deadlines, shutdown). The methods:
`context` (RpcNode, the node as the methods see it, and what every namespace shares), `params`
(reading parameters, strictly), and one module per namespace: `system`, `chain`, `state`,
`author`, `payment`, `balances`, `grandpa`, `market`, `staking`, `referenda` (the gov
namespace's referenda and tracks), `votes` (gov_votes), `blob`, `testing` (the test namespace,
only with `--test-rpc`).
"""
