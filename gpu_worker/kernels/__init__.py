"""The workloads' kernels: `cpu` (Numba @njit) and `cuda` (Numba @cuda.jit).

Each module has the functions of gpu_worker.reference with the same signatures and gives the same
bits: gemm, qmlp_layer, requantize, qmlp, sgd. `gpu_worker.devices.backend(device)` picks one.
"""
