"""Real models that run as compute jobs: trained in floating point, quantized for a workload.

- `digits`: a classifier of scikit-learn's digits, quantized to int8 and run as a qmlp_i8 job.
- the language model (`lm_data`, `lm_float`, `lm_train`, `lm_quant`): a byte-level transformer
  trained here on Python's reference manual (`xpl model train-lm`), quantized to tfm_i8; the
  package ships it as `lm_tfm_i8.bin` (the weights blob) and `lm_tfm_i8.json` (its card).
"""
