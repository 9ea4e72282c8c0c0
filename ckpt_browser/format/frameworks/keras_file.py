"""Keras weight files as a `Checkpoint`: Keras 3 `.weights.h5` (and the weights inside a
`.keras` archive) and legacy Keras 2 `.h5`, through h5py.

Keras 3 keeps each layer's variables as datasets `vars/0`, `vars/1`... under the layer's path
(`layers/dense/vars/0`), and the optimizer's under `optimizer/vars`; the names here are those
paths. Keras 2 lists its layers in the `layer_names` attribute (of the root, or of
`model_weights` in a whole-model file) and each layer's weights by their variable names
(`dense/kernel:0`); the names here are those, without the `:0`.
"""

from __future__ import annotations

import contextlib
import os
import zipfile

import numpy as np

from ckpt_browser.format.array_shapes import shape_problem
from ckpt_browser.format.checkpoint import Index, as_index
from ckpt_browser.format.dtypes import from_numpy
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import open_regular
from ckpt_browser.format.frameworks.extras import require
from ckpt_browser.format.frameworks.foreign import ForeignCheckpoint

KERAS_ARCHIVE_WEIGHTS = "model.weights.h5"


class KerasCheckpoint(ForeignCheckpoint):
    format_name = "keras"

    def __init__(self, path: str) -> None:
        path = os.path.abspath(path)
        super().__init__(path, [path])
        h5py = require("h5py", "keras", "Keras weight files", path)
        self._file = open_regular(path, "Keras file")
        self._zip = None
        try:
            source = self._file
            if path.endswith(".keras"):
                source = self._archive_member(path)
            try:
                self._h5 = h5py.File(source, "r")
            except OSError as exc:
                raise CheckpointError(f"not an HDF5 file ({exc})", path) from None
            self._datasets: dict[str, object] = {}
            if "layer_names" in self._h5.attrs or "model_weights" in self._h5:
                self._legacy(h5py)
            elif "layers" in self._h5 or "vars" in self._h5:
                self._keras3(h5py)
            else:
                raise CheckpointError(
                    "an HDF5 file, but not Keras weights (no 'layers' group as Keras 3 writes, "
                    "nor a 'layer_names' attribute as Keras 2 writes)",
                    path,
                )
        except BaseException:
            self.close()
            raise
        skipped = []
        for name in sorted(self._datasets):
            dataset = self._datasets[name]
            try:
                dtype = from_numpy(dataset.dtype)
            except ValueError:
                skipped.append(f"{name!r} ({dataset.dtype})")
                continue
            if dtype.is_string:
                skipped.append(f"{name!r} (text)")
                continue
            if shape_problem(tuple(dataset.shape), dtype.numpy.itemsize) is not None:
                skipped.append(f"{name!r} (shape {list(dataset.shape)}: too big for NumPy)")
                continue
            self.add_info(name, dtype, tuple(dataset.shape))
        if skipped:
            self.warnings.append(f"datasets not listed: {', '.join(skipped)}")

    def _archive_member(self, path: str):
        try:
            self._zip = zipfile.ZipFile(self._file)
            return self._zip.open(KERAS_ARCHIVE_WEIGHTS)
        except KeyError:
            raise CheckpointError(
                f"a .keras archive without {KERAS_ARCHIVE_WEIGHTS} (saved without weights?)", path
            ) from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise CheckpointError(f"not a .keras archive (a zip): {exc}", path) from None

    def _keras3(self, h5py) -> None:
        def visit(name: str, item: object) -> None:
            if isinstance(item, h5py.Dataset):
                self._datasets[name] = item

        self._h5.visititems(visit)

    def _legacy(self, h5py) -> None:
        group = self._h5.get("model_weights", self._h5)
        for layer in _names(group.attrs.get("layer_names", [])):
            if layer not in group:
                raise CheckpointError(f"Keras layer {layer!r} is listed but absent", self.prefix)
            layer_group = group[layer]
            for weight in _names(layer_group.attrs.get("weight_names", [])):
                if weight not in layer_group or not isinstance(layer_group[weight], h5py.Dataset):
                    raise CheckpointError(
                        f"Keras weight {weight!r} of layer {layer!r} is listed but absent",
                        self.prefix,
                    )
                self._datasets[weight.removesuffix(":0")] = layer_group[weight]

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        self.info(name)
        dataset = self._datasets[name]
        try:
            values = dataset[()] if index is None else dataset[as_index(index)]
        except (OSError, ValueError, TypeError) as exc:
            if index is not None:  # h5py takes fewer index forms than numpy: read, then index
                return self.read(name)[as_index(index)]
            raise CheckpointError(f"dataset {name!r} cannot be read ({exc})", self.prefix) from None
        values = np.asarray(values)
        values.flags.writeable = False
        return values

    def close(self) -> None:
        for thing in (getattr(self, "_h5", None), self._zip, self._file):
            if thing is not None:
                # Closing after a failed open: nothing is left to release.
                with contextlib.suppress(Exception):
                    thing.close()


def _names(values: object) -> list[str]:
    return [
        v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()
    ]
