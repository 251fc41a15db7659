import pytest

from wizard import Step
from wizard.host import PluginError, order_steps


def make(name, after=(), before=()):
    step = Step()
    step.name, step.after, step.before = name, tuple(after), tuple(before)
    return step


def names(steps):
    return [s.name for s in steps]


def test_after_and_before_are_respected_and_ties_go_alphabetically():
    steps = [make("zeta"), make("gamma", after=["beta"]), make("beta"), make("alpha", before=["beta"])]
    owner = {s.name: "p" for s in steps}
    assert names(order_steps(steps, owner)) == ["alpha", "beta", "gamma", "zeta"]


def test_order_does_not_depend_on_registration_order():
    a = [make("c", after=["a"]), make("a"), make("b")]
    b = list(reversed(a))
    owner = {s.name: "p" for s in a}
    assert names(order_steps(a, owner)) == names(order_steps(b, owner)) == ["a", "b", "c"]


def test_a_cycle_names_the_steps_and_plugins():
    steps = [make("x", after=["y"]), make("y", after=["x"]), make("free")]
    with pytest.raises(PluginError) as info:
        order_steps(steps, {"x": "plugin-one", "y": "plugin-two", "free": "p"})
    message = str(info.value)
    assert "x, y" in message and "plugin-one" in message and "plugin-two" in message
    assert "free" not in message


def test_an_unknown_name_names_the_step_and_plugin():
    with pytest.raises(PluginError) as info:
        order_steps([make("x", before=["nowhere"])], {"x": "my-plugin"})
    assert "nowhere" in str(info.value) and "my-plugin" in str(info.value)
