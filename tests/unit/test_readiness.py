"""Files that other processes poll for (ready files, dev.json) are seen whole or not at all."""

from __future__ import annotations

import threading
from pathlib import Path

from services.readiness import write_whole


def test_a_polled_file_is_never_seen_empty_or_partly_written(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    texts = ["a" * 300_000, "b" * 300_000]
    seen: list[str] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            if path.exists():
                seen.append(path.read_text())

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for i in range(200):
            write_whole(path, texts[i % 2])
    finally:
        done.set()
        reader.join()
    assert seen, "the reader never saw the file"
    assert all(text in texts for text in seen)
    assert path.read_text() == texts[1]
    assert [p.name for p in tmp_path.iterdir()] == ["dev.json"]  # No temporary file left.
