import subprocess
import sys
import types

import activelearn as al


def test_import_activelearn_loads_no_heavy_library():
    code = ("import sys, activelearn\n"
            "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'sklearn', 'sqlalchemy', 'torch', 'skorch', 'modAL')"
            " if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_public_names_resolve_on_first_use():
    from activelearn.loop import Session
    from activelearn.simulate import simulate

    assert al.Session is Session and al.simulate is simulate and al.load_digits.__module__ == "activelearn.datasets"
    assert set(al.__all__) <= set(dir(al)) and "models" in dir(al)
    namespace = {}
    exec("from activelearn import *", namespace)
    assert all(name in namespace for name in al.__all__)
    try:
        al.no_such_name
    except AttributeError as exc:
        assert "no attribute 'no_such_name'" in str(exc)
    else:
        raise AssertionError("unknown names must raise AttributeError")


def test_simulate_stays_the_function_when_its_module_is_imported():
    import importlib

    original = importlib.import_module("activelearn.simulate")
    del sys.modules["activelearn.simulate"]  # as if the loop imported it for the first time
    try:
        module = importlib.import_module("activelearn.simulate")
        assert isinstance(module, types.ModuleType) and callable(al.simulate) and al.simulate is module.simulate
    finally:
        sys.modules["activelearn.simulate"] = original
        al.simulate = original  # the package keeps the function, as it does for the import machinery
    assert al.simulate is original.simulate
