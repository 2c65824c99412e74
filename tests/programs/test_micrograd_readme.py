"""The expressions of micrograd's README and of its engine tests: forward
values and gradients on both engines, against the reference Value and the
figures micrograd's README prints."""
import pytest

from .reference import Value as Ref


def readme_expression(Value):
    """The README's example: every op, reused nodes, in-place `+=`."""
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    return g, a, b


def sanity_expression(Value):
    """A node used by several parents, relu on both sides of zero."""
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    return y, x


def more_ops_expression(Value):
    """Division both ways, powers, subtraction from a number, tanh and exp."""
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    e = (c - d).tanh() + (b / 8).exp() - 3 / b
    f = (e * e + 1) ** 0.5 - (2 - a) / (a * a)
    f.backward()
    return f, a, b


def numbers(nodes):
    return [(n.data, n.grad) for n in nodes]


@pytest.mark.parametrize("program", [readme_expression, sanity_expression, more_ops_expression])
def test_values_and_gradients_match_the_reference(engine, program):
    ours, ref = numbers(program(engine)), numbers(program(Ref))
    for (data, grad), (ref_data, ref_grad) in zip(ours, ref):
        assert data == pytest.approx(ref_data, rel=1e-13)
        assert grad == pytest.approx(ref_grad, rel=1e-12)


def test_the_readme_prints_these_figures(engine):
    g, a, b = readme_expression(engine)
    assert f"{g.data:.4f}" == "24.7041"       # the forward pass
    assert f"{a.grad:.4f}" == "138.8338"      # dg/da
    assert f"{b.grad:.4f}" == "645.5773"      # dg/db
    # and to 1e-12 of PyTorch's figures (micrograd's test_sanity_check)
    assert g.data == pytest.approx(24.70408163265306, rel=1e-12)
    assert a.grad == pytest.approx(138.83381924198252, rel=1e-12)
    assert b.grad == pytest.approx(645.5772594752186, rel=1e-12)


def test_the_sanity_check_by_hand(engine):
    # y = relu(z*z) + relu(z) + z*x + (relu(z) + z*x) * x with z = 3x + 2,
    # at x = -4: z = -10, so y = 100 + 0 + 40 + 40 * -4 = -20, and
    # dy/dx = 2z*3 + (3x + z) + (3x + z) * x + (z*x) = -60 - 22 + 88 + 40 = 46.
    y, x = sanity_expression(engine)
    assert (y.data, x.grad) == (-20.0, 46.0)
