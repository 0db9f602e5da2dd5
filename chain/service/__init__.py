"""The node service: the running node around the sans-I/O core (DESIGN 2, the node service layer).

- `node`: `NodeService` and `run_node`, the node process: drives the core from the real clock on
  trio, carries out its actions, serves RPC and metrics, runs the network and the audits.
- `network`: the core's messages over py-libp2p, and the blob protocol (`blob_protocol`).
- `verification`: the validators' audit service: recompute drawn leaves, attest on chain.
- `signature_pool`: a process pool that checks block signatures in parallel (cancelled when the
  block fails a cheaper check first).
- `interfaces`: the narrow interfaces of the node that the network glue and the audit service
  use, so that `node` builds them without an import cycle.
- `metrics`, `job_metrics`: Prometheus metrics of the node and of the market's jobs.
- `storage_faults`: a database that fails its writes, reported once and recovered from by
  reopening it (or the node stops).
- `rpc`: the JSON-RPC server (protocol, registry, subscriptions, HTTP/WebSocket transport) and
  one module per namespace of methods, over the narrow `rpc.context.RpcNode` interface.

It may import `runtime`, `gpu_worker`'s kernels and checks, the client SDK, the node core,
storage and `p2p`; nothing below imports it.
"""
