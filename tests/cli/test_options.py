"""Checks of the command's arguments (anynet.cli.options)."""

from __future__ import annotations

import copy

import pytest

import anynet
from anynet.cli import UsageError, build_parser
from anynet.cli.options import available, check_augment, check_train_flags, check_tta, image_data, parse_shape


def test_available_refuses_an_absent_device_and_a_dtype_the_device_lacks():
    available("cpu", "float64")
    available("cpu", "float16")
    with pytest.raises(anynet.DeviceError, match="unknown device 'tpu'"):
        available("tpu")
    with pytest.raises(anynet.DeviceError, match="device 'cpu' has no bfloat16; it has float16, float32, float64"):
        available("cpu", "bfloat16")


def test_shapes_are_positive_sizes():
    assert parse_shape("1,28,28") == parse_shape("1x28x28") == parse_shape(" 1, 28,28,") == (1, 28, 28)
    for text in ("", "0", "1,-2", "one", ","):
        with pytest.raises(UsageError, match=f"--input-shape must be positive sizes .* got {text!r}"):
            parse_shape(text)


def test_the_flag_checks_name_the_flag_and_change_nothing():
    args = build_parser().parse_args(["train", "--hidden", "0"])
    before = copy.deepcopy(vars(args))
    with pytest.raises(ValueError, match="train: --hidden must be an integer >= 1, got 0"):
        check_train_flags(args)
    assert vars(args) == before
    check_train_flags(build_parser().parse_args(["train"]))  # flags left out are not checked


def test_augment_needs_a_convolutional_model_on_images():
    check_augment(None, "mlp", False, "spiral")
    check_augment("shift,flip", "lenet5", True, "fashion-mnist")
    for model, images, data in (("mlp", True, "mnist"), ("lenet5", False, "spiral")):
        with pytest.raises(UsageError, match="--augment transforms image batches: use a convolutional --model on "
                                             "fashion-mnist or mnist"):
            check_augment("auto", model, images, data)
    with pytest.raises(UsageError, match="--augment: unknown transform.s. 'blur'"):
        check_augment("blur", "lenet5", True, "mnist")


def test_tta_needs_images_that_are_not_flattened():
    check_tta(None, True, False)
    check_tta("flip", False, True)
    for flat, images in ((True, True), (False, False)):
        with pytest.raises(UsageError, match="--tta averages views of test images: use a convolutional --model on "
                                             "fashion-mnist or mnist"):
            check_tta("flip", flat, images)
    with pytest.raises(UsageError, match="--tta: unknown view.s. 'shift': give a comma-separated list of flip"):
        check_tta("shift", False, True)


def test_image_data_lists_the_registrys_image_sets():
    assert image_data() == "fashion-mnist or mnist"
    assert image_data("--data") == "--data fashion-mnist or --data mnist"
