"""Install rla_mm: `make setup` (pinned environment) or `pip install -e .`."""
import os.path as osp

import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildWithConfigs(build_py):
    """Copy configs/ and model-index.yml into the built package as rla_mm/.mim/
    (wheels), the layout OpenMMLab packages use."""

    def run(self):
        super().run()
        mim = osp.join(self.build_lib, 'rla_mm', '.mim')
        if osp.isdir('configs') and not self.editable_mode:
            shutil.rmtree(mim, ignore_errors=True)
            shutil.copytree('configs', osp.join(mim, 'configs'))
            shutil.copy('model-index.yml', mim)


def read_version() -> str:
    namespace = {}
    with open(osp.join('rla_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='rla_mm',
    version=read_version(),
    description='Recurrent Layer Aggregation (RLA) backbones for MMDetection '
    'and MMPretrain',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['rla_mm', 'rla_mm.*']),
    cmdclass={'build_py': BuildWithConfigs},
    python_requires='>=3.9',
    # Lower bounds: the oldest versions run here (the `cu121` stack of
    # `make test-compat`: torch 2.1.2, torchvision 0.16.2, numpy 1.26.4, where
    # training, testing and every README command pass; mmengine, mmcv, mmdet,
    # mmpretrain, pycocotools and model-index at the versions of
    # requirements/*.txt). Upper bounds: the OpenMMLab series whose APIs rla_mm
    # uses. requirements/*.txt pin what `make setup` installs.
    install_requires=[
        'torch>=2.1.2',
        'torchvision>=0.16.2',
        'mmengine>=0.10.7,<0.11',
        'mmcv>=2.1.0,<2.2.0',
        'mmdet>=3.3.0,<3.4.0',
        'mmpretrain>=1.2.0,<1.3.0',
        'model-index>=0.1.11',  # rla_mm.register_model_zoo reads model-index.yml
        'pycocotools>=2.0.11',
        'numpy>=1.26.4',
    ],
    extras_require={
        'tests': ['pytest', 'scikit-learn'],
        'onnx': ['onnx', 'onnxruntime', 'onnxscript'],
    },
    zip_safe=False,
)
