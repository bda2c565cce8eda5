"""Compatibility layers: other libraries' APIs as thin adapters over vis's own functions.

`vis.compat.tf_keras_vis` mirrors tf-keras-vis 0.8.7's modules: scripts written
against tf-keras-vis run on vis by replacing `tf_keras_vis` with
`vis.compat.tf_keras_vis` in their import lines (see
docs/coming-from-tf-keras-vis.md). Importing this package imports nothing else.
"""
