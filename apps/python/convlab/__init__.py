"""convlab from Python: representation similarity (CKA, RSA, Procrustes), checkpoints, features
and training, computed by convlab's C++ and CUDA code.

    import convlab
    convlab.cka(x, y)                              # one pair of layers, debiased linear CKA
    convlab.cka_matrix([x1, x2, x3])               # every layer against every layer
    cmp = convlab.Comparison()                     # batch by batch, from a DataLoader loop
    for images, _ in loader:
        cmp.add(features_of(images))
    cmp.result()
    convlab.identify([seed_0, seed_1, seed_2])     # which layer is which, over networks of one architecture

See docs/python.md for the whole API and examples.
"""

from ._convlab import Error, InputError, RunError, __version__, built_with_cuda, cuda_available
from ._analysis import CKA, Comparison, Result, Tested, cka, cka_matrix, get_cka_matrix
from ._identify import Identification, IdentifyRow, identify
from ._models import Model, load_checkpoint
from ._training import TrainResult, train

__all__ = [
    "CKA",
    "Comparison",
    "Error",
    "Identification",
    "IdentifyRow",
    "InputError",
    "Model",
    "Result",
    "RunError",
    "Tested",
    "TrainResult",
    "__version__",
    "built_with_cuda",
    "cka",
    "cka_matrix",
    "cuda_available",
    "get_cka_matrix",
    "identify",
    "load_checkpoint",
    "train",
]
