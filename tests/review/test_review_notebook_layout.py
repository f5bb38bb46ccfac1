"""Where a notebook's parts sit among its JSON lines (``bot.engines.notebooks``), on the
layouts real notebooks have: nbformat's one row a line, a source written as one string,
rows split across list items (nbconvert's own test notebooks have them), a compact file,
and a broken one."""

from __future__ import annotations

import json

from bot.engines import notebooks
from tests.notebook_files import code_cell, markdown_cell, notebook


def _layout(data: bytes | str) -> tuple[notebooks.JsonString, ...]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    strings = notebooks.json_strings(text)
    assert strings is not None
    return strings


def test_each_source_row_maps_to_the_json_line_that_holds_it() -> None:
    data = notebook(
        [markdown_cell("# Title\n\ntext", index=1), code_cell("a = 1\n\nb = 2", index=2, figure=True)]
    )
    lines = data.decode("utf-8").splitlines()
    rows = notebooks.source_lines(_layout(data))
    assert [lines[n - 1].strip() for n in rows[2]] == ['"a = 1\\n",', '"\\n",', '"b = 2"']
    assert [lines[n - 1].strip() for n in rows[1]] == ['"# Title\\n",', '"\\n",', '"text"']


def test_a_row_split_across_items_starts_on_its_first_item() -> None:
    text = '{"cells": [{"cell_type": "code", "source": [\n"x = (1,",\n" 2)\\n",\n"y = x"\n]}]}'
    assert notebooks.source_lines(_layout(text)) == {1: [2, 4]}


def test_a_source_written_as_one_string_puts_its_rows_on_its_line() -> None:
    text = '{\n "cells": [\n  {"cell_type": "code", "source": "import os\\nimport sys\\n"}\n ]\n}'
    assert notebooks.source_lines(_layout(text)) == {1: [3, 3]}
    assert notebooks.code_text(_layout(text)) == "import os\nimport sys\n"


def test_outputs_ids_and_metadata_are_data_lines_not_code() -> None:
    data = notebook([code_cell("plot()", index=1, figure=True, stream="done\n")])
    strings = _layout(data)
    lines = data.decode("utf-8").splitlines()
    code = notebooks.code_lines(strings)
    kernel = notebooks.data_lines(strings)
    assert [lines[n - 1].strip() for n in sorted(code)] == ['"plot()"']
    assert any('"image/png"' in lines[n - 1] for n in kernel)
    assert any('"done\\n"' in lines[n - 1] for n in kernel)
    assert any('"id"' in lines[n - 1] for n in kernel)
    assert code.isdisjoint(kernel)


def test_readable_lines_unescape_values_and_leave_keyed_lines_alone() -> None:
    data = notebook([code_cell('KEY = "v"\nprint(KEY)', index=1)])
    strings = _layout(data)
    readable = notebooks.readable_lines(strings)
    lines = data.decode("utf-8").splitlines()
    [key_line] = [n for n, line in enumerate(lines, 1) if "KEY = " in line]
    assert readable[key_line] == 'KEY = "v"'
    assert all(not lines[n - 1].lstrip().startswith('"cell_type"') for n in readable)


def test_every_value_is_read_as_json_reads_it() -> None:
    cells = [code_cell('s = "tab\\tquote\\" é ☃ \\\\"\nt = 2', index=1, stream="x\ty\n")]
    data = notebook(cells)
    values = [s.value for s in _layout(data) if not s.key]

    def walk(node: object) -> list[str]:
        if isinstance(node, dict):
            return [v for child in node.values() for v in walk(child)]
        if isinstance(node, list):
            return [v for child in node for v in walk(child)]
        return [node] if isinstance(node, str) else []

    assert values == walk(json.loads(data))


def test_a_broken_notebook_has_no_layout() -> None:
    assert notebooks.json_strings('{"cells": [\n<<<<<<< HEAD\n') is None
    assert notebooks.json_strings('{"cells": [}') is None
    assert notebooks.json_strings("") is None
    assert notebooks.json_strings('{"a": [1}]') is None
