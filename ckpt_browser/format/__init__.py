"""Reading and writing TensorFlow checkpoints without TensorFlow.

A small API in the manner of h5py's `File` and safetensors' `safe_open`::

    from ckpt_browser.format import open_checkpoint

    with open_checkpoint("runs/model") as ckpt:   # a directory, prefix, .index, .data-*, .meta ...
        for name, info in ckpt.items():           # a Mapping of name -> TensorInfo
            print(name, info.dtype.name, info.shape, info.nbytes)
        kernel = ckpt.read("dense/kernel")        # a read-only numpy array over a memory map
        rows = ckpt.read("embedding", (slice(0, 10),))   # reads only those rows
"""
