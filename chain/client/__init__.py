"""The client SDK of an XPL node, shared by the CLI and the worker: the JSON-RPC client (`rpc`),
the typed chain client (`chain`), the blob client (`blobs`) and the requester's job SDK (`jobs`).

It imports only `runtime` and the result checks of `gpu_worker`, never the node.
"""
