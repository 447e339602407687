"""``rlanet_to_rla_mm.py --all``: a folder of the authors' published files,
each recognised by its content, converted to the name our config expects.

The folder is written once per test session (:func:`downloads`): every
published file, named as the authors name it, in their format
(``rla_functional``'s layout, held to the recorded authors' layouts in
test_converter.py, and MMDetection 2.x's checkpoint dict for the detectors).
Each tensor is one number broadcast to its shape
(``expand``: stride 0, one element stored), so the 18 files take 3.6 MB, not
the 3 GB of full-size weights; every tensor gets its own number, so a converted
file shows where each source tensor went.
"""
import os
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from rla_testkit import rla_functional as ref
from rla_testkit.checkout import REPO_ROOT, load_tool
from rla_testkit.reference_checkpoints import (small, write_published,
                                               write_reference_checkpoint)

from rla_mm.converters.published import published_checkpoints

convert_main = load_tool('model_converters/rlanet_to_rla_mm.py').main
PUBLISHED = published_checkpoints()


@pytest.fixture(scope='session')
def downloads(tmp_path_factory):
    """A folder holding every published file, as downloaded from the
    authors."""
    folder = tmp_path_factory.mktemp('downloads')
    write_published(folder)
    return folder


def source_numbers(path):
    checkpoint = torch.load(path, weights_only=True)
    return {float(v.flatten()[0]) for v in checkpoint['state_dict'].values()}


def test_all_converts_every_published_file(downloads, tmp_path, capsys):
    dst = tmp_path / 'checkpoints'
    assert convert_main(['--all', str(downloads), str(dst)]) == 0
    out = capsys.readouterr().out
    assert f'converted 18 of 18 files in {downloads}:' in out
    assert 'not converted' not in out
    assert sorted(os.listdir(dst)) == sorted(e.converted for e in PUBLISHED)
    for e in PUBLISHED:
        assert re.search(
            rf'^  {re.escape(e.file)} +\S+ +{re.escape(e.config)} '
            rf'+{re.escape(str(dst / e.converted))}$', out, re.M), e
        converted = torch.load(dst / e.converted, weights_only=True)
        values = {
            float(v.flatten()[0])
            for v in converted['state_dict'].values()
        }
        source = source_numbers(downloads / e.file)
        if e.kind == 'classifier':
            # every source tensor lands somewhere, nothing else is written
            assert values == source, e.file
            assert converted['meta']['arch'] == e.arch
            assert converted['meta']['source'] == e.file
        else:
            # all but the one norm nothing reads (5 tensors: stage_bns.3.2)
            assert values <= source and len(source - values) == 5, e.file
            assert converted['meta']['converted_from']['file'] == e.file
            assert len(converted['meta']['dataset_meta']['classes']) == 80
    # the classifier files load into our configs' models, key for key
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    for e in PUBLISHED:
        if e.kind != 'classifier':
            continue
        with torch.device('meta'):
            model = MODELS.build(
                Config.fromfile(osp.join(REPO_ROOT, e.config)).model)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        converted = torch.load(dst / e.converted, weights_only=True)
        assert {
            k: tuple(v.shape)
            for k, v in converted['state_dict'].items()
        } == expected, e.config


def test_content_decides_and_the_rest_is_listed_with_why(
        downloads, tmp_path, capsys):
    by_arch = {e.arch: e for e in PUBLISHED}
    folder = tmp_path / 'mixed'
    folder.mkdir()
    # the ECA-ResNet-50 file under the plain ResNet-50's name
    os.symlink(downloads / by_arch['rla_resnet50_eca'].file,
               folder / by_arch['rla_resnet50'].file)
    # a bare state dict (no "arch"): the layout decides
    bare = small(ref.random_mobilenet_state_dict(eca=True, num_classes=1000))
    torch.save(bare, folder / 'mobilenet_weights.pth')
    # a copy of a detector under another name
    detector = by_arch['retinanet_rla_r101_fpn_1x_coco']
    os.symlink(downloads / detector.file, folder / 'a_retinanet.pth')
    os.symlink(downloads / detector.file, folder / 'b_retinanet_again.pth')
    # not the authors' files, or not ones that a config of ours builds
    (folder / 'README.txt').write_text('links to the weights\n')
    torch.save(dict(weight=torch.zeros(2)), folder / 'other.pth')
    write_reference_checkpoint(folder / 'resnext.pth.tar',
                               dict(fc=torch.zeros(1)), 'rla_resnext50_32x4d')
    write_reference_checkpoint(folder / 'resnet18.pth.tar',
                               dict(fc=torch.zeros(1)), 'rla_resnet18')
    torch.save(
        dict(state_dict={'layer1.0.conv1.weight': torch.zeros(1)}),
        folder / 'torchvision_resnet50.pth')
    (folder / 'subfolder').mkdir()

    dst = tmp_path / 'out'
    assert convert_main(['--all', str(folder), str(dst)]) == 0
    out = capsys.readouterr().out
    assert f'converted 3 of 9 files in {folder}:' in out
    assert sorted(os.listdir(dst)) == [
        'retinanet_rla_r101_fpn_1x_coco.pth', 'rla_eca_mobilenet_v2_in1k.pth',
        'rla_eca_resnet50_in1k.pth'
    ]
    assert ("resnet50_rla_2283.pth.tar: rla_resnet50_eca: 429 tensors, "
            "25,870,782 parameters (named as the authors' file of "
            "rla_resnet50, but its content is rla_resnet50_eca)") in out
    assert ('mobilenet_weights.pth: dsrla_mobilenetv2_k32_eca: 435 tensors, '
            '3,624,199 parameters (no "arch" entry: dsrla_mobilenetv2_k32_eca '
            'by its key layout)') in out
    why = dict(
        re.findall(r'^  (\S+) +(.+)$',
                   out.split('not converted:')[1], re.M))
    assert why['b_retinanet_again.pth'] == (
        f'the same model as a_retinanet.pth, already written to '
        f'{dst / "retinanet_rla_r101_fpn_1x_coco.pth"}')
    assert why['README.txt'].startswith('not a readable torch checkpoint')
    assert why['other.pth'].startswith('no "arch" entry, and its keys are not')
    assert why['resnext.pth.tar'].startswith(
        "arch 'rla_resnext50_32x4d' converts, but no config of ours builds it")
    assert why['resnet18.pth.tar'].startswith(
        "arch 'rla_resnet18' is not one of the authors' models")
    assert why['torchvision_resnet50.pth'].startswith(
        'a plain ResNet (torchvision layout), not an RLA network')
    assert 'subfolder' not in why
    # a second run over its own output: the converted files are not read again
    for name in os.listdir(dst):
        os.symlink(dst / name, folder / f'converted_{name}')
    assert convert_main(['--all', str(folder), str(tmp_path / 'again')]) == 0
    why = dict(
        re.findall(r'^  (\S+) +(.+)$',
                   capsys.readouterr().out.split('not converted:')[1], re.M))
    assert why['converted_rla_eca_resnet50_in1k.pth'] == \
        'already an rla_mm checkpoint (converted before)'
    assert why['converted_retinanet_rla_r101_fpn_1x_coco.pth'] == \
        'already an rla_mm checkpoint (converted before)'
    # written outside checkpoints/: the user is told how the configs find it
    assert 'our configs read checkpoints/NAME' in out
