"""The XPL node client and the client SDK (DESIGN 2): `client` the SDK the CLI and the worker
use, `core` the sans-I/O node core, `storage` LevelDB and the chain and blob stores, `service` the
running node with its network, audits and JSON-RPC, `cli` the `xpl` command."""
