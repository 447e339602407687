"""rla_mm.utils.dataset_check: cheap checks of data roots and annotation
files."""
import json

import pytest
from mmengine.config import Config

from rla_mm.utils import dataset_check as check


def loader(dataset):
    return dict(batch_size=1, dataset=dataset)


def test_any_dataset_with_an_annotation_file_is_checked_whatever_its_type(
        tmp_path):
    # A panoptic file has no 'bbox': only paths and the JSON frame are looked
    # at.
    panoptic = tmp_path / 'panoptic_val.json'
    panoptic.write_text(
        json.dumps(
            dict(
                images=[],
                annotations=[dict(image_id=1, segments_info=[])],
                categories=[])))
    voc_list = tmp_path / 'trainval.txt'
    voc_list.write_text('000001\n')
    cfg = Config(
        dict(
            train_dataloader=loader(
                dict(
                    type='ConcatDataset',
                    datasets=[
                        dict(
                            type='RepeatDataset',
                            times=2,
                            dataset=dict(
                                type='VOCDataset',
                                data_root=str(tmp_path),
                                ann_file='trainval.txt')),
                        dict(
                            type='CocoPanopticDataset',
                            ann_file=str(panoptic)),
                    ])),
            val_dataloader=loader(
                dict(type='CIFAR10', data_root=str(tmp_path)))))
    assert sorted(check.check_dataset_files(cfg)) == sorted(
        [str(voc_list), str(panoptic)])


def test_only_the_ends_of_a_json_file_are_read(tmp_path):
    # Content errors are the dataset loader's to report, once: the check does
    # not parse the file (COCO's train2017 file is about 450 MB).
    path = tmp_path / 'big.json'
    path.write_text('{"images": [' + 'x' * 100_000 + ']}')
    cfg = Config(
        dict(
            test_dataloader=loader(
                dict(type='LVISV1Dataset', ann_file=str(path)))))
    assert check.check_dataset_files(cfg, ('test_dataloader', )) == [str(path)]


@pytest.mark.parametrize('text,message', [
    ('{"images": [',
     r"it starts with '{' but ends with .*, not with '}' \(truncated\?\)"),
    ('images = []', r"it starts with b'images = \[\]', not with"),
    ('', r"it starts with b'', not with"),
])
def test_a_file_that_is_not_json_is_named(tmp_path, text, message):
    path = tmp_path / 'instances_train.json'
    path.write_text(text)
    cfg = Config(
        dict(
            train_dataloader=loader(
                dict(
                    type='CocoDataset',
                    data_root=str(tmp_path),
                    ann_file='instances_train.json'))))
    with pytest.raises(
            ValueError, match=f'{path}.* is not valid JSON: ' + message):
        check.check_dataset_files(cfg)


def test_missing_root_and_file_are_named(tmp_path):
    cfg = Config(
        dict(
            train_dataloader=loader(
                dict(
                    type='CocoDataset',
                    data_root=str(tmp_path / 'nowhere'),
                    ann_file='a.json'))))
    with pytest.raises(FileNotFoundError, match='data root .*nowhere'):
        check.check_dataset_files(cfg)
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    with pytest.raises(
            FileNotFoundError,
            match=f"annotation file '{tmp_path}/a.json' does not "
            'exist'):
        check.check_dataset_files(cfg)
