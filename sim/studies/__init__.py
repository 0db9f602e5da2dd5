"""Studies the simulator ships: the economic-security study (`economics`: a cheater's expected
profit under the chain's rules; `detection`: how often the real audit draw catches a share of
faked leaves; `economics_plots`: the heatmap and the detection plot; `economics_study`: all of it
written to a directory, `xpl sim study economics`)."""
