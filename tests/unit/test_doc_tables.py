""".dev_scripts/doc_tables.py: every generated table of the README and the docs
is what its function writes from the metafiles."""
import shutil

import pytest
from rla_testkit.checkout import REPO_ROOT, load_script

from rla_mm.utils.markdown_block import read_block, replace_block

DOC_TABLES = load_script('.dev_scripts/doc_tables.py')


@pytest.mark.parametrize('tag', list(DOC_TABLES.TABLES))
def test_every_table_in_the_checkout_is_written_from_the_metafiles(tag):
    path, render = DOC_TABLES.TABLES[tag]
    assert read_block(f'{REPO_ROOT}/{path}', tag) == render(), \
        f'run python .dev_scripts/doc_tables.py {tag}'


def test_the_writer_covers_each_files_tables():
    assert {
        tag: table.path
        for tag, table in DOC_TABLES.TABLES.items()
    } == {
        'metafile-in1k': 'configs/README.md',
        'metafile-cifar': 'configs/README.md',
        'ablation-in1k': 'configs/ablation/README.md',
        'ablation-cifar': 'configs/ablation/README.md',
        'published-detectors': 'docs/weights.md'
    }


def test_check_names_a_stale_table_and_writing_fixes_it(tmp_path, capsys):
    (tmp_path / 'configs' / 'ablation').mkdir(parents=True)
    (tmp_path / 'docs').mkdir()
    for path in {t.path for t in DOC_TABLES.TABLES.values()}:
        shutil.copy(f'{REPO_ROOT}/{path}', tmp_path / path)
    assert DOC_TABLES.main(['--check', '--root', str(tmp_path)]) == 0
    replace_block(
        str(tmp_path / 'configs' / 'README.md'), 'metafile-cifar',
        '| stale |\n')
    assert DOC_TABLES.main(['--check', '--root', str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'configs/README.md: table metafile-cifar is out of date' in err
    assert DOC_TABLES.main(['metafile-cifar', '--root', str(tmp_path)]) == 0
    assert DOC_TABLES.stale_tables(str(tmp_path)) == []
    text = (tmp_path / 'configs' / 'README.md').read_text()
    assert text == open(f'{REPO_ROOT}/configs/README.md').read()


def test_an_unknown_table_is_refused(capsys):
    with pytest.raises(SystemExit):
        DOC_TABLES.main(['no-such-table'])
    assert "unknown table(s) ['no-such-table']" in capsys.readouterr().err


def test_a_tag_registers_once():
    with pytest.raises(
            ValueError, match="table 'metafile-in1k' is registered"):
        DOC_TABLES.table('metafile-in1k', 'x.md')(lambda: '')


def test_read_block_needs_exactly_one_block(tmp_path):
    path = tmp_path / 'a.md'
    path.write_text('<!-- t:begin -->\nx\n<!-- t:end -->\n<!-- t:end -->\n')
    with pytest.raises(ValueError, match='needs exactly one'):
        read_block(str(path), 't')
