"""Everything is in pyproject.toml; this file only makes the wheel a platform wheel when it carries the server
(`src/addonmock/bin/addonmock`, put there by scripts/release): not pure, tagged py3-none-<platform>, so pip installs
it only where the binary runs. Without the binary the wheel stays pure (the server then comes from elsewhere)."""
import os

from setuptools import setup

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

CARRIES_SERVER = os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "addonmock", "bin", "addonmock"))


class PlatformWheel(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = not CARRIES_SERVER

    def get_tag(self):
        python, abi, platform = super().get_tag()
        return ("py3", "none", platform) if CARRIES_SERVER else (python, abi, platform)


setup(cmdclass={"bdist_wheel": PlatformWheel})
