"""Install `vis` (the keras-vis API on TensorFlow 2.16+ / Keras 3).

TensorFlow is an extra, not a hard requirement: users already hold
`tensorflow`, `tensorflow-cpu` or a platform build, and pip would otherwise
install a second TensorFlow over theirs. `pip install ".[tensorflow]"` (or
`[cpu]`) sets up a fresh machine fully.
"""

from setuptools import find_packages, setup

setup(
    name="keras-vis",
    version="0.6.0",
    description="keras-vis visualizations (saliency, grad-CAM, activation maximization) for Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["vis", "vis.*"]),
    package_data={"vis": ["data/*"]},
    include_package_data=True,
    entry_points={"console_scripts": ["vis = vis.cli:main"]},
    python_requires=">=3.10",
    install_requires=["numpy>=1.26", "scipy>=1.11", "matplotlib>=3.7", "pillow>=10"],
    extras_require={
        "tensorflow": ["tensorflow>=2.16"],
        "cpu": ["tensorflow-cpu>=2.16"],
        # The tests also build the docs (mkdocs --strict), execute the example notebooks and
        # build vis's wheel offline for a fresh virtual environment (setuptools >= 70.1 has bdist_wheel).
        "test": [
            "setuptools>=70.1",
            "pytest>=8",
            # The README's test command runs the suite on two workers (`-n 2 --dist loadfile`): 11.5 min
            # on one process, 6.5 min on two, on the 2-core machine the suite is budgeted for.
            "pytest-xdist>=3.5",
            "hypothesis>=6",
            "ruff>=0.6",
            "mkdocs>=1.6",
            "mkdocs-material>=9.5",
            "mkdocstrings[python]>=0.26",
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6.29",
            # vis.compat.tf_keras_vis is checked against the real thing: the surface test compares every
            # public module, name and signature with tf-keras-vis 0.8.7's, and the side-by-side tests
            # compare its maps with 0.8.7's on the same models (it installs on TensorFlow 2.21).
            "tf-keras-vis==0.8.7",
        ],
        "docs": ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"],
        "bench": ["tf-keras-vis==0.8.7"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
