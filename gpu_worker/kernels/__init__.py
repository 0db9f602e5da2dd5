"""The workloads' kernels: `cpu` (Numba @njit) and `cuda` (Numba @cuda.jit).

Each module has the functions of gpu_worker.reference with the same signatures and gives the same
bits: gemm, qmlp_layer, requantize, qmlp, sgd. `gpu_worker.devices.backend(device)` picks one.

`witness_numpy`, `witness_cpu` and `witness_cuda` recompute a leaf together with its witness
(`gpu_worker.witness`): product_witness and sgd_step_witness, the same bits on every device.
"""
