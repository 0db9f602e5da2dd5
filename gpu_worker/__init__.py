"""Compute workloads (Numba CPU and CUDA kernels), commitments, verification and the worker daemon.

Built by the compute-market issue; the chain's verification service will use its checks.
"""
