"""Only the package list: everything else is in pyproject.toml.

`packages.find` cannot see prompts/ and adapters/ as curator.prompts and curator.adapters (pyproject's
package-dir maps them there), so they are added to what it finds; new subpackages need no listing.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["curator", "curator.*", "recsys", "recsys.*"])
    + ["curator.prompts", "curator.adapters"]
)
