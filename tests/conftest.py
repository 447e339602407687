import os.path as osp
import sys

# Let tests import the helpers that sit beside them (rla_functional).
sys.path.insert(0, osp.dirname(__file__))
