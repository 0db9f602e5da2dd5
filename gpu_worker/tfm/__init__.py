"""tfm_i8: a decoder-only transformer whose every operation is integer, bit-exact on every device.

- `spec`: the integer scheme (its docstring is the specification), the weights as int tensors
  (`TfmWeights`) and their blob codec (`encode_weights`, `decode_weights`; the layout and the
  size rule are `runtime.tfm_layout`'s, which the chain checks without NumPy).
- `reference`: each operation in NumPy, the definition; `cpu` (Numba) and `cuda` (numba.cuda)
  give its bits.
- `forward`: `forward(weights, tokens, device) -> TfmForward(logits, layers)`, and one layer's
  rows from the layer before (`forward_layer`), which an audit recomputes.
- `leaves`: the result cut into (layer, block of positions) leaves and one leaf recomputed from
  the committed leaves before it.
- `generate`: greedy or seeded sampling, integer and replayable.
- `quantize`: float parameters and calibration text to a model (`quantize`), with the float
  forward pass it calibrates on.
"""
