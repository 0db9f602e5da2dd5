"""Real models that run as compute jobs: trained in floating point, quantized for a workload.

`gpu_worker.models.digits` is the example that ships with XPL: a classifier of scikit-learn's
digits, quantized to int8 and run as a qmlp_i8 job.
"""
