"""pip install --no-build-isolation ./examples/pytorch

Builds the ops with CMake (CMakeLists.txt next to this file) against the torch that this
Python imports, and installs the swat_torch package with the library inside. Without build
isolation, so that the extension is compiled against the torch it will run with (an isolated
build would fetch another one). SWAT_SOURCE_DIR=<swat checkout> when this directory is not
inside one (otherwise an installed swat is looked for with find_package).
"""

import os
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        import torch.utils

        build = os.path.abspath(self.build_temp)
        configure = ["cmake", "-S", HERE, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                     f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"]  # fmt: skip
        if os.environ.get("SWAT_SOURCE_DIR"):
            configure.append(f"-DSWAT_SOURCE_DIR={os.environ['SWAT_SOURCE_DIR']}")
        subprocess.check_call(configure)
        jobs = os.environ.get("SWAT_JOBS") or str(os.cpu_count() or 1)
        subprocess.check_call(["cmake", "--build", build, "--target", "swat_torch_ops", "--parallel", jobs])
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(build, "swat_torch", "_swat_ops.so"), target)


setup(
    name="swat_torch",
    version="0.1.0",
    description="swat's sliding-window attention kernels as PyTorch CPU ops, with autograd",
    packages=["swat_torch"],
    package_dir={"": "python"},
    ext_modules=[Extension("swat_torch._swat_ops", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.8",
)
