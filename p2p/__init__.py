"""libp2p networking: the host, gossip topics and request-response protocols (the network issue)."""
