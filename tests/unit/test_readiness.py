"""Files that other processes poll for (ready files, dev.json) are seen whole or not at all."""

from __future__ import annotations

import threading
from pathlib import Path

from services.readiness import write_whole


def test_a_polled_file_is_never_seen_empty_or_partly_written(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    texts = ["a" * 300_000, "b" * 300_000]
    reads = 0
    torn: list[int] = []  # The lengths of reads that were neither whole text.
    done = threading.Event()

    def poll() -> None:
        nonlocal reads
        while not done.is_set():
            if path.exists():
                text = path.read_text()
                reads += 1
                if text not in texts:
                    torn.append(len(text))

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for i in range(200):
            write_whole(path, texts[i % 2])
    finally:
        done.set()
        reader.join()
    assert reads, "the reader never saw the file"
    assert torn == []
    assert path.read_text() == texts[1]
    assert [p.name for p in tmp_path.iterdir()] == ["dev.json"]  # No temporary file left.
