"""Package layout that pyproject.toml cannot express: the top-level folders ``cli/`` and ``configs/`` are
installed inside the distribution as ``reid_cli`` and ``reid.configs``, so no bare ``cli`` module is installed
and the built-in YAML configs travel with the package. Everything else lives in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["reid", "reid.*"]) + ["reid_cli", "reid.configs", "reid.configs.trackers"],
    package_dir={"reid_cli": "cli", "reid.configs": "configs", "reid.configs.trackers": "configs/trackers"},
    package_data={"reid.configs": ["*.yaml"], "reid.configs.trackers": ["*.yaml"], "reid.report": ["*.html", "*.css", "*.js"]},
)
