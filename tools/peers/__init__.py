"""The peers of convlab's training step, for tools/bench-peers.py: common.py (the network, the
protocol, the data, the timing loop), torch_peer.py and flax_peer.py."""
