"""Importing this module checks that TensorFlow 2.16+ (Keras 3) is there, with a clear ImportError if not.

The packages that need TensorFlow import it first; `import vis` alone does not.
"""

from vis import _require_tensorflow

_require_tensorflow()
