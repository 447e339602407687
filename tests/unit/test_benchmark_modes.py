"""tools/analysis_tools/benchmark.py --modes: eager / ONNX Runtime inference
side by side."""
import pytest
import torch
from rla_testkit.checkout import load_tool

benchmark = load_tool('analysis_tools/benchmark.py')


def test_modes_time_eager_and_onnx_runtime_with_the_flops_ratio(monkeypatch):
    # tiny inputs: the real cases are 224x224 batch 8 and 640x960
    monkeypatch.setitem(benchmark.CASES, 'cls', ((2, 3, 64, 64), 'tiny cls'))
    monkeypatch.setitem(benchmark.CASES, 'detfpn',
                        ((1, 3, 72, 104), 'tiny det'))
    threads = torch.get_num_threads()
    try:
        report = benchmark.main([
            '--cases', 'cls', 'detfpn', '--depth', '18', '--modes', 'eager',
            'ort', 'ort-basic', '--repeats', '1', '--warmup', '0', '--threads',
            '1'
        ])
    finally:
        torch.set_num_threads(threads)
    rows = [
        line for line in report.splitlines()
        if line.startswith('| cls') or line.startswith('| detfpn')
    ]
    assert [r.split(' | ')[:2] for r in rows
            ] == [['| cls', m] for m in ('eager', 'ort', 'ort-basic')
                  ] + [['| detfpn', m] for m in ('eager', 'ort', 'ort-basic')]
    assert 'onnxruntime' in report and '1 threads' in report
    # RLA adds arithmetic: its FLOPs ratio is above 1, the same for every mode
    flops = {
        r.split(' | ')[0]: float(r.rstrip(' |').split(' | ')[-1])
        for r in rows
    }
    assert flops['| cls'] > 1.1 and 1.0 < flops['| detfpn'] < flops['| cls']


def test_detfpn_builds_backbone_and_neck():
    rla, plain = benchmark.build_pair('detfpn', 18)
    x = torch.randn(1, 3, 72, 104)
    for model in (rla, plain):
        model.eval()
        with torch.no_grad():
            outs = model(x)
        # FPN's 5 levels, 256 channels, strides 4 to 64
        assert [tuple(o.shape[1:]) for o in outs] == [
            (256, -(-72 // s), -(-104 // s)) for s in (4, 8, 16, 32, 64)
        ]


def test_modes_reject_bad_combinations(capsys):
    for bad in (['--cases', 'detfpn'], ['--modes', 'eager', '--profile',
                                        '5'], ['--modes', 'tensorrt']):
        with pytest.raises(SystemExit):
            benchmark.parse_args(bad)
    err = capsys.readouterr().err
    assert '--cases detfpn is timed with --modes only' in err
    assert '--modes and --profile do not go together' in err
    assert "invalid choice: 'tensorrt'" in err
