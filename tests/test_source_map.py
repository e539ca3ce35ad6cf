"""A traceback from code cloudpickle sent by value (a script's, a notebook's) names the user's
file and line again once the driver's SourceMap restores it. No Spark: the round trip is
cloudpickle's own, in this process."""
import importlib.util
import sys
import traceback

import cloudpickle

from hyperspark.source_map import SourceMap

USER_CODE = '''
import math


def helper(x):
    return math.sqrt(x)          # line 6: raises for x < 0


class Model:
    def loss(self, x):
        return helper(x) + 1     # line 11


def objective(x):
    def inner(y):
        return Model().loss(y)   # line 16
    return inner(x)
'''


def load_user_module(tmp_path, name):
    path = tmp_path / f"{name}.py"
    path.write_text(USER_CODE)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)  # as a script's __main__ travels
    return module, str(path)


def test_frames_sent_by_value_are_named_by_their_file_and_line(tmp_path):
    module, path = load_user_module(tmp_path, "user_search_by_value")
    try:
        # the driver makes the map before anything is unpickled: in one process, cloudpickle
        # gives an unpickled class back the same class object, its methods now dynamic code
        source = SourceMap.of(module.objective)
        shipped = cloudpickle.loads(cloudpickle.dumps(module.objective))
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        del sys.modules["user_search_by_value"]
    try:
        shipped(-1.0)
    except ValueError as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    assert text.count('File "<dynamic-code>"') == 4  # objective, inner, Model.loss, helper

    restored = source.restore(text)
    assert "<dynamic-code>" not in restored
    for line, name, source in ((17, "objective", "return inner(x)"),
                               (16, "inner", "return Model().loss(y)"),
                               (11, "loss", "return helper(x) + 1"),
                               (6, "helper", "return math.sqrt(x)")):
        assert f'  File "{path}", line {line}, in {name}\n    {source}' in restored, restored
    assert restored.rstrip().endswith("ValueError: math domain error")


def test_frames_it_does_not_know_are_left_as_they_came():
    text = ('Traceback (most recent call last):\n'
            '  File "<dynamic-code>", line 3, in somebody_else\n'
            'ValueError: x\n')
    assert SourceMap.of(lambda x: x).restore(text) == text
    assert SourceMap.of(None).restore("no frames here") == "no frames here"
