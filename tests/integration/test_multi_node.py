"""Two nodes on the loopback: the multi-node launch of docs/openmmlab_tools.md.

The doc's two ``NNODES=2`` commands (``NODE_RANK=0`` on the master, then
``NODE_RANK=1``) run as written but for what needs a cluster: both nodes on
this machine, ``MASTER_ADDR=127.0.0.1``, a free ``PORT``, one CPU process per
node (gloo), and the demo detector on a tiny digits set.
``tools/dist_train.sh`` trains one epoch; ``tools/dist_test.sh`` then evaluates
the checkpoint it wrote, on the same two nodes.
"""
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from typing import Dict, List, Tuple

import pytest
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT, load_tool
from rla_testkit.markdown import all_shell_commands, split_env
from rla_testkit.process import free_port

DOC = osp.join(REPO_ROOT, 'docs', 'openmmlab_tools.md')
DEMO = osp.join('configs', 'demo', 'faster_rcnn_rla_r18_fpn_digits.py')
COCO_TABLE = 'Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all'
#: seconds each launch (training, then testing) may take
LAUNCH_TIMEOUT = 300


def two_node_commands() -> Dict[str, Tuple[Dict[str, str], List[str]]]:
    """The doc's ``NNODES=2`` commands: NODE_RANK -> (variables, words)."""
    with open(DOC) as f:
        text = f.read()
    nodes = {}
    for line, command in all_shell_commands(text):
        env, words = split_env(command)
        if env.get('NNODES', '1') != '1':
            assert env.get('NODE_RANK') not in nodes, \
                f'{DOC}:{line}: NODE_RANK={env.get("NODE_RANK")} again'
            nodes[env.get('NODE_RANK')] = (env, words)
    return nodes


def test_the_doc_shows_one_launch_on_two_nodes():
    nodes = two_node_commands()
    assert sorted(nodes) == ['0', '1'], nodes
    (env0, words0), (env1, words1) = nodes['0'], nodes['1']
    assert words0 == words1 and words0[0] == 'tools/dist_train.sh'
    assert env0['NNODES'] == '2'
    assert {k: v for k, v in env0.items() if k != 'NODE_RANK'} == \
        {k: v for k, v in env1.items() if k != 'NODE_RANK'}
    assert {'MASTER_ADDR', 'PORT'} <= set(env0)


def launch_two_nodes(env: Dict[str, str], tool: str, args: List[str],
                     logs: str) -> subprocess.CompletedProcess:
    """Run ``tool args`` as node 0 and node 1 at once, on this machine, with
    the doc's variables but MASTER_ADDR 127.0.0.1 and a free PORT; each
    node's output goes to ``logs``/node{rank}.log."""
    port = free_port()
    nodes = []
    for rank in (0, 1):
        node_env = dict(
            env, NODE_RANK=str(rank), MASTER_ADDR='127.0.0.1', PORT=str(port))
        words = [f'{k}={v}' for k, v in node_env.items()]
        log = shlex.quote(osp.join(logs, f'node{rank}.log'))
        nodes.append(f'{shlex.join(words + [tool, *args])} > {log} 2>&1')
    script = (f'{nodes[0]} & node0=$!\n{nodes[1]}; rc1=$?\n'
              'wait $node0; rc0=$?\necho "rc0=$rc0 rc1=$rc1"\n'
              '[ $rc0 = 0 ] && [ $rc1 = 0 ]\n')
    return process.run(['bash', '-c', script],
                       cwd=REPO_ROOT,
                       env=dict(
                           os.environ,
                           PYTHON=sys.executable,
                           PYTHONUNBUFFERED='1'),
                       capture_output=True,
                       text=True,
                       timeout=LAUNCH_TIMEOUT)


def read(path) -> str:
    with open(path) as f:
        return f.read()


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.timeout(2 * LAUNCH_TIMEOUT + 120)
def test_two_nodes_train_then_test_on_the_loopback(tmp_path):
    digits = load_tool('data/make_digits_coco.py')
    data = str(tmp_path / 'digits')
    digits.make_dataset(data, num_train=8, num_val=4, size=96, seed=3)
    options = digits.cfg_options(data, coco_layout=False)
    env, words = two_node_commands()['0']
    # the doc's config -> DEMO, its GPUs per node -> 1 CPU process per node;
    # its other arguments (--auto-scale-lr) as they are
    extra = words[3:]
    work = str(tmp_path / 'work')

    train_logs = tmp_path / 'train'
    train_logs.mkdir()
    proc = launch_two_nodes(
        env, 'tools/dist_train.sh',
        [DEMO, '1', *extra, '--work-dir', work, '--cfg-options', *options],
        str(train_logs))
    node0, node1 = (read(train_logs / f'node{r}.log') for r in (0, 1))
    assert proc.returncode == 0, (proc.stdout + node0[-3000:] + node1[-3000:])
    # MMEngine's "GPU number" is the world size: one process on each node
    assert 'GPU number: 2' in node0, node0[-3000:]
    assert "'backend': 'gloo'" in node0
    assert re.search(r'Epoch\(train\) \[1\]\[(\d+)/\1\]', node0), node0[-3000:]
    checkpoints = sorted(f for f in os.listdir(work) if f.endswith('.pth'))
    assert checkpoints == ['epoch_1.pth'], checkpoints

    test_logs = tmp_path / 'test'
    test_logs.mkdir()
    proc = launch_two_nodes(env, 'tools/dist_test.sh', [
        DEMO,
        osp.join(work, 'epoch_1.pth'), '1', '--work-dir',
        str(tmp_path / 'eval'), '--cfg-options', *options
    ], str(test_logs))
    node0, node1 = (read(test_logs / f'node{r}.log') for r in (0, 1))
    assert proc.returncode == 0, (proc.stdout + node0[-3000:] + node1[-3000:])
    assert 'GPU number: 2' in node0, node0[-3000:]
    assert COCO_TABLE in node0, node0[-3000:]
    assert 'coco/bbox_mAP' in node0
