"""keelson.table: the one table layout every command prints."""

from keelson import table


def test_columns_fit_their_widest_cell_and_numbers_align_right() -> None:
    text = table.render(("NAME", "SIZE>", "NOTE"), [("a", 5, "x"), ("longer", 12345, "")])
    assert text.splitlines() == [
        "NAME     SIZE  NOTE",
        "a           5  x",
        "longer  12345",
    ]


def test_sizes_read_as_people_read_them() -> None:
    assert [table.size(n) for n in (512, 1536, 12 * 2**20, 3.2 * 2**30)] == [
        "512 B",
        "1.5 KiB",
        "12.0 MiB",
        "3.2 GiB",
    ]
