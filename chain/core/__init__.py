"""The node core: block import and authoring, fork choice, finality, sync and the transaction
pool, as a state machine without I/O.

Its drivers (the node process in `chain.service.node`, the simulator in `sim`, tests) feed it inputs
and carry out the actions it returns; time comes in as `now_ms`. It reads no clock, opens no
socket and starts no task; it imports `runtime`, the chain store (`chain.storage`) and the
standard library only.

    boundary        the contract: NodeInputs, NodeView, the Action union, and what the core
                    needs (ChainStoreReads, ChainStoreWrites, SignatureVerifier, ChainView)
    node            NodeCore, the input API, composed of the parts below
    actions         the core's outputs: timers, notifications, gossip, requests, peer reports
    messages        what nodes say to each other: gossip topics, request protocols, their codecs
    importer        the rules a block must follow to be imported; sealing an authored block
    aura            slots and their authors
    authoring       authoring in this node's slots
    inbound         peers' gossip and requests, checked
    sync            what to ask peers for; sync_exchange sends it and imports the answers
    serving         answers to peers' sync requests
    grandpa         the finality voter; rounds: its rounds' votes, GHOST and estimates;
                    voter_messages: its outputs and wire forms; neighbours: where its peers
                    stand and whom it asks to catch up; voter_state: what it saves of itself;
                    votes_ahead: what it keeps of later rounds; vote_targets: the blocks its
                    votes may name; round_duties: a round's primary, commit announcer and vote
                    noter; finality: justifications
    voting          the voter's outputs as actions
    offences        equivocations caught and reported, the node's own staking transactions
    chain_updates   blocks and finality written to the store (the core's one side effect)
    view            the store, read through the core's caches
    pool            the transaction pool; pool_upkeep keeps it in step with the chain
    tx_gossip       this node's transactions gossiped in batches; peers' batches pooled and
                    the useless ones charged
    gc_pause        garbage collection held off while a block is executed and stored
"""
