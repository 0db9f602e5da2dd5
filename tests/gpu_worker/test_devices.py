"""Choosing the device: "auto" resolved, kernels loaded, a self-test honoured, and the fall back to
the NumPy reference only where it was asked for."""

from __future__ import annotations

import pytest

from gpu_worker import reference
from gpu_worker.devices import DEVICES, DeviceError, backend, cuda_available, select_device
from gpu_worker.kernels import cpu


def failing(device: str) -> None:
    raise ValueError(f"{device} disagrees")


def test_every_device_name_is_known_and_others_are_refused() -> None:
    assert DEVICES == ("auto", "cpu", "cuda", "numpy")
    with pytest.raises(DeviceError, match=r"unknown device 'tpu' \(choose from auto, cpu, cuda"):
        select_device("tpu")


def test_numpy_is_the_reference_and_needs_no_kernels() -> None:
    assert select_device("numpy", self_test=failing) == "numpy"
    assert backend("numpy") is reference


def test_auto_is_the_gpu_where_one_is_usable_else_the_cpu() -> None:
    assert select_device("auto") == ("cuda" if cuda_available() else "cpu")
    assert select_device("cpu") == "cpu"
    assert backend("cpu") is cpu


def test_a_device_that_fails_its_self_test_is_refused_without_a_fall_back() -> None:
    with pytest.raises(DeviceError, match="device cpu is not usable here: cpu disagrees"):
        select_device("cpu", self_test=failing)


def test_with_a_fall_back_a_failing_device_gives_way_to_the_reference() -> None:
    told: list[str] = []
    assert select_device("cpu", self_test=failing, fall_back=told.append) == "numpy"
    assert told == ["cpu: cpu disagrees"]
    tested: list[str] = []
    assert select_device("auto", self_test=tested.append, fall_back=told.append) == tested[0]
    assert len(told) == 1  # a device that works is not a fall-back


@pytest.mark.skipif(cuda_available(), reason="this machine has a GPU")
def test_cuda_never_falls_back() -> None:
    with pytest.raises(DeviceError, match="no usable CUDA GPU"):
        select_device("cuda", fall_back=print)
