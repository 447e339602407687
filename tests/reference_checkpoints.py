"""Checkpoints in the authors' format, as their training script saves them;
shared by the converter tests of both tiers and the README test."""
import torch


def write_reference_checkpoint(path, state_dict, arch):
    """Save weights the way the authors' training script does."""
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(1, 2)).sum().backward()
    optimizer.step()
    torch.save(
        dict(
            epoch=120,
            arch=arch,
            best_acc1=torch.tensor(77.17),
            state_dict={
                f'module.{k}': v
                for k, v in state_dict.items()
            },
            optimizer=optimizer.state_dict()), path)
