import sys
import threading
import time

from activelearn._threads import loaded_module


def test_loaded_module_waits_for_an_import_under_way_in_another_thread(tmp_path, monkeypatch):
    # A session's warm-up thread imports torch while the person's code asks whether torch is loaded:
    # sys.modules then holds a half-initialised module (torch.nn missing); loaded_module waits for the import.
    (tmp_path / "al_slow_module.py").write_text("import time\ntime.sleep(0.5)\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "al_slow_module", raising=False)
    assert loaded_module("al_slow_module") is None  # not loaded: None, and no import started
    assert "al_slow_module" not in sys.modules
    importer = threading.Thread(target=__import__, args=("al_slow_module",))
    importer.start()
    deadline = time.monotonic() + 10
    while "al_slow_module" not in sys.modules and time.monotonic() < deadline:
        time.sleep(0.001)
    half = sys.modules["al_slow_module"]
    assert not hasattr(half, "DONE")  # what sys.modules.get gave: the module half initialised
    module = loaded_module("al_slow_module")
    assert module is half and module.DONE is True
    importer.join(10)
