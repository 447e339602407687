"""Install rla_mm: `make setup` (pinned environment) or `pip install -e .`."""
import os
import os.path as osp
import shutil
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

# What OpenMMLab's `mim` (and rla_mm.configs) read from an installed package's
# `.mim/` folder: `mim train/test` run `.mim/tools/{train,test}.py`, `mim run`
# any script under `.mim/tools/`, config names are looked up under
# `.mim/configs/`, and `mim search` reads `.mim/model-index.yml`.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def copy_mim_files(mim: str) -> None:
    """Copy MIM_FILES into ``mim`` (a wheel's rla_mm/.mim)."""
    shutil.rmtree(mim, ignore_errors=True)
    os.makedirs(mim)
    for name in MIM_FILES:
        if osp.isdir(name):
            shutil.copytree(
                name,
                osp.join(mim, name),
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copy(name, mim)


def link_mim_files(mim: str) -> None:
    """Link MIM_FILES from ``mim`` (the checkout's rla_mm/.mim, git-ignored) to
    the checkout's own, for editable installs."""
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        link = osp.join(mim, name)
        if osp.islink(link) or osp.isfile(link):
            os.remove(link)
        elif osp.isdir(link):
            shutil.rmtree(link)
        os.symlink(osp.relpath(osp.abspath(name), mim), link)


class BuildWithMim(build_py):
    """Wheels carry MIM_FILES in rla_mm/.mim/, the layout OpenMMLab packages
    use; an editable build links them instead."""

    def run(self):
        super().run()
        if not osp.isdir('configs'):  # building from an unpacked wheel
            return
        if self.editable_mode:
            link_mim_files(osp.join('rla_mm', '.mim'))
        else:
            copy_mim_files(osp.join(self.build_lib, 'rla_mm', '.mim'))


class DevelopWithMim(develop):
    """`pip install -e .` (setuptools' develop): link MIM_FILES."""

    def run(self):
        super().run()
        link_mim_files(osp.join('rla_mm', '.mim'))


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
    long_description=open('README.md').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['rla_mm', 'rla_mm.*']),
    cmdclass={
        'build_py': BuildWithMim,
        'develop': DevelopWithMim
    },
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
        # rla_mm.register_model_zoo reads model-index.yml
        'model-index>=0.1.11',
        'pycocotools>=2.0.11',
        'numpy>=1.26.4',
    ],
    extras_require={
        'tests': ['pytest', 'scikit-learn'],
        'onnx': ['onnx', 'onnxruntime', 'onnxscript'],
        'mim': ['openmim>=0.3.9'],  # mim train / test / run / search rla_mm
        # RLA twins in MMSegmentation's configs, `make demo-seg`;
        # MMSegmentation imports ftfy and regex without declaring them
        # (requirements/seg.txt pins what `make setup` installs)
        'seg': [
            'mmsegmentation>=1.2.2,<1.3.0',
            'prettytable>=3.18.0',
            'wcwidth>=0.9.5',
            'ftfy>=6.3.1',
            'regex>=2026.11.15',
        ],
    },
    zip_safe=False,
)
