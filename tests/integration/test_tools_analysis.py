"""tools/analysis_tools: get_flops.py (complexity) and benchmark.py
(speed, memory)."""
import os.path as osp

import pytest
import torch
from rla_testkit.checkout import REPO_ROOT, load_tool

from rla_mm.configs import load_metafile
from rla_mm.utils.markdown_block import replace_block

get_flops = load_tool('analysis_tools/get_flops.py')
benchmark = load_tool('analysis_tools/benchmark.py')
CONFIGS = osp.join(REPO_ROOT, 'configs')


def test_get_flops_counts_the_paper_models(tmp_path, capsys):
    out = tmp_path / 'complexity.md'
    out.write_text('intro\n<!-- complexity:begin -->\nold\n'
                   '<!-- complexity:end -->\noutro\n')
    names = ['rla_resnet50_4xb64_in1k.py', 'rla_mobilenet_v2_2xb48_in1k.py']
    r50, mbv2 = get_flops.main([osp.join(CONFIGS, n)
                                for n in names] + ['--out', str(out)])
    g = 1024**3
    # convolutions and linear layers alone, in the paper's unit (MACs / 2^30:
    # RLA-ResNet-50 4.15, RLA-MobileNetV2 336.6 / 2^20);
    # the split conv1 over [x, h] must still be counted in full
    assert round(r50['conv_linear'] / g, 2) == 4.15
    # (336.2 here against the 336.6 quoted in the spec: within 0.2%)
    assert abs(mbv2['conv_linear'] / 1024**2 / 336.6 - 1) < 0.002
    meta = load_metafile()
    assert r50['params'] == meta[names[0]]['Metadata']['Parameters']
    assert mbv2['params'] == meta[names[1]]['Metadata']['Parameters']
    # the total adds the counter's batch-norm work: within 1% of the paper
    assert abs(r50['flops'] / g / 4.17 - 1) < 0.01
    assert r50['flops'] == r50['conv_linear'] + r50['norm'] + \
        r50['by_operator'].get('adaptive_avg_pool2d', 0)
    printed = capsys.readouterr().out
    assert f"{r50['params']:,}" in printed and 'paper unit' in printed
    # the paper's figures come from the metafile: 24.67M and 4.170
    assert '| 24.67M | 24.67M |' in out.read_text()
    text = out.read_text()
    assert text.startswith('intro\n') and text.endswith('outro\n')
    assert 'old' not in text and '`rla_resnet50_4xb64_in1k.py`' in text


def test_get_flops_detection_counts_backbone_and_neck():
    cfg = osp.join(CONFIGS, 'retinanet_rla_r50_fpn_1x_coco.py')
    small, = get_flops.main([cfg, '--shape', '64', '96'])
    assert small['detector'] and small['shape'] == (64, 96)
    assert small['counted_params'] < small['params']  # heads not counted
    # FLOPs of a fully convolutional part scale with the pixels
    large, = get_flops.main([cfg, '--shape', '128', '192'])
    assert 3.5 < large['flops'] / small['flops'] < 4.5


def test_get_flops_counts_cifar_models_at_32x32():
    plain, rla = get_flops.main([
        osp.join(CONFIGS, 'preact_resnet164_1xb128_cifar10.py'),
        osp.join(CONFIGS, 'rla_resnet164_1xb128_cifar10.py')
    ])
    assert plain['shape'] == rla['shape'] == (32, 32)
    assert (plain['params'], rla['params']) == (1_703_258, 1_739_450)
    # RLA adds its convs over the 32x32, 16x16 and 8x8 stages
    assert 1.1 < rla['flops'] / plain['flops'] < 1.4


def test_get_flops_rejects_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        get_flops.main([str(tmp_path / 'nope.py')])
    with pytest.raises(SystemExit):  # no config at all
        get_flops.main([])


def test_replace_block_needs_its_markers(tmp_path):
    path = tmp_path / 'doc.md'
    path.write_text('no markers here\n')
    with pytest.raises(ValueError, match='benchmark:begin'):
        replace_block(str(path), 'benchmark', 'x')
    new = tmp_path / 'new.md'
    replace_block(str(new), 'benchmark', 'table')
    assert new.read_text() == \
        '<!-- benchmark:begin -->\ntable\n<!-- benchmark:end -->\n'


def test_peak_memory_follows_the_allocator():
    mib = 1024**2

    def work():
        a = torch.ones(4 * mib // 4)  # 4 MiB of float32
        b = torch.ones(8 * mib // 4)
        del a
        c = torch.ones(2 * mib // 4)
        del b, c

    peak = benchmark.peak_memory(work, torch.device('cpu'))
    assert 12 * mib <= peak < 13 * mib


def test_time_pair_interleaves_and_summarise():
    calls = []
    fns = [lambda: calls.append('A'), lambda: calls.append('B')]
    times = benchmark.time_pair(
        fns, repeats=3, warmup=1, device=torch.device('cpu'))
    assert calls == ['A', 'B'] * 4
    assert [len(t) for t in times] == [3, 3]
    s = benchmark.summarise([2.0, 3.0, 9.0], [1.0, 1.0, 3.0])
    assert s['ratio'] == 3.0 and (s['lo'], s['hi']) == (2.0, 3.0)
    assert s['rla'] == 3.0 and s['plain'] == 1.0


def test_benchmark_end_to_end_on_a_tiny_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(benchmark.CASES, 'cls',
                        ((2, 3, 64, 64), 'tiny classification'))
    out = tmp_path / 'bench.md'
    threads = torch.get_num_threads()
    try:
        report = benchmark.main([
            '--cases', 'cls', '--repeats', '1', '--warmup', '0', '--threads',
            '1', '--out',
            str(out)
        ])
    finally:
        torch.set_num_threads(threads)
    assert 'torch ' + torch.__version__ in report and '1 threads' in report
    for row in ('| cls | inference (s) |', '| cls | train step (s) |',
                '| cls | train-step peak (MiB) |', 'with_cp=True'):
        assert row in report
    assert report in out.read_text()


def test_benchmark_rejects_bad_arguments(capsys):
    for bad in (['--repeats', '0'], ['--warmup',
                                     '-1'], ['--threads',
                                             '0'], ['--cases', 'seg']):
        with pytest.raises(SystemExit):
            benchmark.parse_args(bad)
    assert '--repeats must be >= 1, got 0' in capsys.readouterr().err
    for bad, says in ((['--batch', '0'], '--batch must be >= 1, got 0'),
                      (['--compile', '--warmup',
                        '0'], '--compile needs --warmup >= 1')):
        with pytest.raises(SystemExit):
            benchmark.parse_args(bad)
        assert says in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown case 'seg'"):
        benchmark.build_pair('seg', 50)


def test_benchmark_batch_replaces_the_cases_batch_size():
    assert benchmark.input_shape('cls', 64) == (64, 3, 224, 224)
    assert benchmark.input_shape('det') == benchmark.CASES['det'][0]
