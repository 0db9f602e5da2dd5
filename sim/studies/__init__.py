"""Studies the simulator ships: the economic-security study (`economics`: a cheater's expected
profit under the chain's rules; `detection`: how often the real audit draw catches a share of
faked leaves; `economics_plots`: the heatmap and the detection plot; `economics_study`: all of it
written to a directory, `xpl sim study economics`); the supply study (`supply`, with
`supply_events` and `supply_plots`: job latency and price through a supply shock and a demand
spike, `xpl sim study supply`); the network study (`finality`, with `finality_measures` and
`finality_plots`: finality against validator count, latency and a partition, `xpl sim study
network`); `png`: the studies' figures as small palette PNGs."""
