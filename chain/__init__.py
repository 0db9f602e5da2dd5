"""The XPL node client and the client SDK (DESIGN 2): `client` the SDK the CLI and the worker use,
`core` the sans-I/O node core, `storage` LevelDB, `rpc` JSON-RPC, `cli` the `xpl` command."""
