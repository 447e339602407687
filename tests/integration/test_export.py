"""torch.compile and ONNX export of small RLA models
(fast: tiny widths, 32-64 px)."""
import pytest
import torch
import torch.nn as nn

from rla_mm.models import RLAResNet


def tiny_resnet(**kwargs):
    return RLAResNet(
        depth=18, rla_channel=4, stem_channels=8, base_channels=8, **kwargs)


class Classifier(nn.Module):
    """An MMPretrain ImageClassifier returning logits, as exported."""

    def __init__(self, backbone: dict, in_channels: int):
        super().__init__()
        from mmpretrain.models import ImageClassifier
        self.model = ImageClassifier(
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead', num_classes=10, in_channels=in_channels))

    def forward(self, x):
        return self.model(x, mode='tensor')


def test_rla_resnet_has_no_graph_break():
    model = tiny_resnet(out_indices=(3, ), cat_hidden=True).eval()
    explained = torch._dynamo.explain(model)(torch.randn(1, 3, 48, 48))
    # one graph for the whole backbone: every stage traced without a break
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_rla_resnet_trains_compiled_in_one_graph():
    # fullgraph=True fails on any graph break; aot_eager traces forward and
    # backward (functionalised, in-place ops included) without a C++ build
    torch.manual_seed(0)
    model = tiny_resnet(out_indices=(1, 3), cat_hidden=True).train()
    x = torch.randn(2, 3, 40, 40)
    grads = []
    for net in (model,
                torch.compile(model, backend='aot_eager', fullgraph=True)):
        model.zero_grad()
        outs = net(x)
        sum(o.square().mean() for o in outs).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        if net is model:
            expected = [o.detach() for o in outs]
    for e, o in zip(expected, outs):
        assert torch.allclose(e, o.detach(), atol=1e-5)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_rla_stage_compiles_with_inductor():
    # inductor generates and builds C++ kernels: one small stage keeps it short
    from rla_mm.models import RLABasicBlock
    from rla_mm.models.layers import HiddenState, RLAStage
    torch.manual_seed(0)
    down = nn.Sequential(
        nn.Conv2d(8, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    blocks = [
        RLABasicBlock(8, 8, 4, stride=2, downsample=down),
        RLABasicBlock(8, 8, 4)
    ]
    stage = RLAStage(blocks, out_channels=8, rla_channel=4).eval()
    x, h = torch.randn(1, 8, 15, 15), torch.randn(1, 4, 15, 15)

    def run(x, h):  # the stage hands its state on through a HiddenState
        hidden = HiddenState(h)
        return stage(x, hidden), hidden.value

    with torch.no_grad():
        expected = run(x, h)
        got = torch.compile(run, fullgraph=True)(x, h)
    for e, g in zip(expected, got):
        assert e.shape == g.shape and e.shape[-2:] == (8, 8)
        assert torch.allclose(e, g, atol=1e-5)


@pytest.mark.parametrize('backbone,in_channels', [
    (dict(
        type='RLAResNet',
        depth=18,
        rla_channel=4,
        stem_channels=8,
        base_channels=8,
        out_indices=(3, ),
        cat_hidden=True), 64 + 4),
    (dict(type='RLAMobileNetV2', rla_channel=8, widen_factor=0.25), 1280),
])
def test_classifier_exports_to_onnx(tmp_path, backbone, in_channels):
    # requirements/optional.txt, installed by `make setup`
    import inspect

    import onnxruntime as ort
    from mmengine.registry import init_default_scope

    import rla_mm  # noqa: F401  (registers the backbones)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = Classifier(backbone, in_channels).eval()
    x = torch.randn(2, 3, 64, 64)
    path = str(tmp_path / 'model.onnx')
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
        options = dict(dynamo=True)
    else:  # torch < 2.5 (the compat stack's 2.1): the TorchScript exporter
        options = dict(opset_version=17)
    torch.onnx.export(
        model, (x, ),
        path,
        input_names=['image'],
        output_names=['logits'],
        **options)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = session.run(None, {'image': x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == expected.shape == (2, 10)
    assert abs(got - expected).max() < 1e-4
