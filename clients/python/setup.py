"""Everything is in pyproject.toml; this file only makes the wheel a platform wheel when it carries the server
(`src/addonmock/bin/addonmock`, put there by scripts/release): not pure, tagged py3-none-<platform>, so pip installs
it only where the binary runs. Without the binary the wheel stays pure (the server then comes from elsewhere)."""
import os

from setuptools import Distribution, setup

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

CARRIES_SERVER = os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "addonmock", "bin", "addonmock"))


class ServerDistribution(Distribution):
    """Not pure when it carries the server: its files go to platlib, where auditwheel expects binaries."""

    def has_ext_modules(self):
        return CARRIES_SERVER or super().has_ext_modules()


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        python, abi, platform = super().get_tag()
        # The server is not a Python extension: any Python 3 on the platform can use it.
        return ("py3", "none", platform) if CARRIES_SERVER else (python, abi, platform)


setup(distclass=ServerDistribution, cmdclass={"bdist_wheel": PlatformWheel})
