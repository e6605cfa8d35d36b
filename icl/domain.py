"""Where each public numerical function answers, and how accurately: one declaration per function.

A function's declaration sits beside it as a decorator::

    @declare(
        Accuracy(relative=1e-10),
        n=Integer(1, 10**7),
        d=Integer(1, 10**4),
        sigma2=Real(0.0, 1e6),
        where=[Condition("d >= 2 or sigma2 > 0", lambda d, sigma2: d >= 2 or sigma2 > 0)],
    )
    def margin_density(u, n, d, sigma2): ...

The same declaration

- validates every call: each declared argument is checked (and converted: an int, a float) and
  the joint conditions are tested; outside the domain the call raises ``ValueError`` (or
  ``TypeError`` for a value of the wrong kind) with a message that says where the domain ends;
- documents the function: a "Domain and accuracy" section is appended to its docstring (a
  numpydoc section, which the API page renders through napoleon's ``napoleon_custom_sections``);
- drives the tests: :meth:`Domain.outside` lists values just outside each range (the hostile-input
  table, ``tests/bad_inputs.py``, adds them to its cases) and :meth:`Domain.sample` draws valid
  arguments across the whole range, edges and extreme scales included (the accuracy census,
  ``tests/accuracy``, compares them with independent references).

Inside the domain the function is right to its declared :class:`Accuracy` (relative, or absolute
where the value can be 0); for a sampler, the accuracy says what is exact about its draws.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from icl import validation

INT64_MAX = 2**63 - 1

# reST's inline literals and roles, kept as written; outside them, the characters that would start
# inline markup (``|w|`` a substitution, ``*x*`` emphasis, ``x_`` a reference) are escaped.
_REST_KEEP = re.compile(r"(``.+?``|:[a-z]+:`[^`]+`)")
_REST_SPECIAL = re.compile(r"([\\*|`]|_(?!\w))")


def _as_rest(text: str) -> str:
    """``text`` as reST that shows it as written (its literals and roles left as they are)."""
    parts = _REST_KEEP.split(text)
    return "".join(
        part if i % 2 else _REST_SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts)
    )


def _number(value: float) -> str:
    """A bound as a reader writes it: 0, 1, 0.25, 1e-12, 10^6."""
    if value in (math.inf, -math.inf):
        return "inf" if value > 0 else "-inf"
    if float(value).is_integer() and abs(value) >= 10**5:
        exponent = math.log10(abs(value))
        if exponent.is_integer():
            return f"{'-' if value < 0 else ''}10^{int(exponent)}"
        if value == INT64_MAX:
            return "2^63 - 1"
    if isinstance(value, numbers.Integral) or float(value).is_integer():
        return str(int(value))
    return f"{value:g}"


@dataclass(frozen=True)
class Accuracy:
    r"""How close a value is to the exact one.

    Parameters
    ----------
    relative : float
        The relative tolerance, :math:`\ge 0`.
    absolute : float
        The absolute tolerance, :math:`\ge 0`, for values that can be 0.
    note : str
        What the bound rests on (a quadrature's tolerance, an asymptotic series' first omitted
        term) or, for a sampler, what is exact about its draws.
    exact : bool
        ``False`` for a sampler: the census then compares moments by Monte Carlo, not values.

    Raises
    ------
    ValueError
        An ``exact`` accuracy with neither a relative nor an absolute tolerance :math:`> 0`.

    Notes
    -----
    Elementwise, :math:`|\mathrm{value} - \mathrm{exact}| \le
    \max(\mathrm{relative}\, |\mathrm{exact}|, \mathrm{absolute})`.
    """

    relative: float = 0.0
    absolute: float = 0.0
    note: str = ""
    exact: bool = True

    def __post_init__(self):
        if self.exact and self.relative <= 0 and self.absolute <= 0:
            raise ValueError("an Accuracy needs a relative or an absolute tolerance")

    def error(self, value, exact) -> float:
        r"""The largest error of ``value`` against ``exact`` in units of the allowed error.

        Parameters
        ----------
        value : array_like
            Computed values.
        exact : array_like
            The exact values, of the same shape.

        Returns
        -------
        float
            :math:`\max |\mathrm{value} - \mathrm{exact}| / \max(\mathrm{relative}\,
            |\mathrm{exact}|, \mathrm{absolute})`: :math:`\le 1` within the declared
            accuracy. NaN, a mismatch of infinities or of shapes counts as :math:`\infty`;
            equal values (infinities of one sign included) as 0.
        """
        value = np.asarray(value, dtype=float)
        exact = np.asarray(exact, dtype=float)
        if value.shape != exact.shape:
            return math.inf
        same_inf = np.isinf(value) & np.isinf(exact) & (np.sign(value) == np.sign(exact))
        allowed = np.maximum(self.relative * np.abs(exact), self.absolute)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(value - exact) / allowed
        ratio = np.where(same_inf | (value == exact), 0.0, ratio)
        ratio = np.where(np.isnan(ratio), math.inf, ratio)
        return float(np.max(ratio)) if ratio.size else 0.0

    def bound(self, values) -> float:
        r"""The mean bound on the error of computed values that this accuracy gives.

        Parameters
        ----------
        values : array_like
            Computed values.

        Returns
        -------
        float
            The mean over ``values`` of :math:`\max(\mathrm{relative}\, |\mathrm{exact}|,
            \mathrm{absolute})` with :math:`|\mathrm{exact}| \le |\mathrm{value}| / (1 -
            \mathrm{relative})`: the bias a check ignores when it takes these values for exact.

        Raises
        ------
        ValueError
            For a sampler's accuracy (``exact=False``), which bounds no single value.
        """
        if not self.exact:
            raise ValueError("a sampler's accuracy bounds no single value")
        magnitude = np.abs(np.asarray(values, dtype=float))
        relative = self.relative * magnitude / (1 - self.relative)
        return float(np.mean(np.maximum(relative, self.absolute)))

    def describe(self) -> str:
        parts = []
        if self.relative > 0:
            parts.append(f"relative error at most {self.relative:.0e}")
        if self.absolute > 0:
            parts.append(f"absolute error at most {self.absolute:.0e}")
        text = " or ".join(parts) if parts else "no error bound on single values"
        return text + (f" ({self.note})" if self.note else "")


class Parameter:
    """One argument's range.

    Subclasses validate (and convert) a value, describe the range, list values just outside it, and
    draw values across it.
    """

    def validate(self, name: str, value):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def outside(self) -> dict[str, object]:
        """Values just outside the range.

        Returns
        -------
        dict of str to object
            The values, by a label of what is wrong with each.
        """
        return {}

    def sample(self, rng: np.random.Generator):
        raise NotImplementedError


@dataclass(frozen=True)
class Integer(Parameter):
    """An integer in ``[low, high]``.

    Parameters
    ----------
    low : int
        The least value.
    high : int, optional
        The largest value; ``None``: up to :math:`2^{63} - 1`, what torch can hold.
    """

    low: int = 1
    high: int | None = None

    @property
    def top(self) -> int:
        return INT64_MAX if self.high is None else self.high

    def validate(self, name: str, value) -> int:
        if isinstance(value, np.integer):
            value = int(value)
        return validation.integer(name, value, self.low, self.top)

    def describe(self) -> str:
        return f"integer in [{_number(self.low)}, {_number(self.top)}]"

    def outside(self) -> dict[str, object]:
        out = {"below_low": self.low - 1, "fraction": self.low + 0.5}
        if self.top < INT64_MAX or self.high is None:
            out["above_high"] = self.top + 1
        return out

    def sample(self, rng: np.random.Generator) -> int:
        """Draw a value across the range.

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.

        Returns
        -------
        int
            An edge (``low``, ``high``) one time in five each, else log-uniform in
            ``[low, high]``.
        """
        top = min(self.top, 10**15)
        draw = rng.random()
        if draw < 0.2 or top == self.low:
            return self.low
        if draw < 0.4 and self.high is not None:
            return self.high
        lo, hi = math.log(max(self.low, 1) + 0.5), math.log(top + 0.5)
        return int(min(max(round(math.exp(rng.uniform(lo, hi))), self.low), top))


@dataclass(frozen=True)
class Real(Parameter):
    """A finite real number in ``[low, high]``.

    Parameters
    ----------
    low, high : float, optional
        The bounds; ``None``: unbounded on that side.
    open_low, open_high : bool
        Exclude the bound.
    array : bool
        Accept a number or an array (list, numpy array, tensor) of them, each in the range; the
        value is passed on as given.
    """

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    array: bool = False

    def validate(self, name: str, value):
        if self.array:
            entries = validation.array(name, value)
            if entries.size == 0:
                raise ValueError(f"{name} must not be empty")
            self._in_range(name, entries)
            return value
        if isinstance(value, np.floating | np.integer) and not isinstance(value, np.bool_):
            value = value.item()
        value = validation.real(name, value)
        self._in_range(name, np.asarray(value))
        return value

    def _in_range(self, name: str, entries: np.ndarray) -> None:
        too_low = self.low is not None and (
            np.any(entries <= self.low) if self.open_low else np.any(entries < self.low)
        )
        too_high = self.high is not None and (
            np.any(entries >= self.high) if self.open_high else np.any(entries > self.high)
        )
        if too_low or too_high:
            shown = float(entries) if entries.ndim == 0 else f"entries from {entries.min():.6g}"
            if entries.ndim and too_high:
                shown = f"entries up to {entries.max():.6g}"
            raise ValueError(f"{name} must be {self.describe_range()}, got {shown}")

    def describe_range(self) -> str:
        if self.low is None and self.high is None:
            return "a finite real number"
        left = "(" if self.open_low or self.low is None else "["
        right = ")" if self.open_high or self.high is None else "]"
        low = "-inf" if self.low is None else _number(self.low)
        high = "inf" if self.high is None else _number(self.high)
        return f"in {left}{low}, {high}{right}"

    def describe(self) -> str:
        kind = "real number" + (" or array of them" if self.array else "")
        return f"{kind} {self.describe_range()}" if self.low is not None or self.high else kind

    def outside(self) -> dict[str, object]:
        out: dict[str, object] = {"nan": math.nan, "inf": math.inf, "string": "x"}
        if self.low is not None:
            out["below_low"] = self.low if self.open_low else _below(self.low)
        if self.high is not None:
            out["above_high"] = self.high if self.open_high else _above(self.high)
        return out

    def sample(self, rng: np.random.Generator) -> float:
        """Draw a value across the range.

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.

        Returns
        -------
        float
            An edge one time in five (the bound, or its nearest neighbour inside an open
            bound), else a magnitude log-uniform over :math:`10^{-12}` to :math:`10^{12}`
            clipped to the range, or uniform across a bounded range one time in three.
        """
        lo = -1e12 if self.low is None else self.low
        hi = 1e12 if self.high is None else self.high
        lo_in = _above(lo) if self.open_low else lo
        hi_in = _below(hi) if self.open_high else hi
        draw = rng.random()
        if draw < 0.1:
            return float(lo_in)
        if draw < 0.2:
            return float(hi_in)
        if draw < 0.45 and self.low is not None and self.high is not None:
            return float(min(max(rng.uniform(lo, hi), lo_in), hi_in))
        magnitude = 10.0 ** rng.uniform(-12, 12)
        signs = [s for s in (1.0, -1.0) if lo_in <= s * magnitude <= hi_in]
        if not signs:
            return float(min(max(magnitude, lo_in), hi_in))
        value = signs[rng.integers(len(signs))] * magnitude
        return float(min(max(value, lo_in), hi_in))


def _below(x: float) -> float:
    return float(np.nextafter(x, -np.inf)) if x == 0 else x - max(abs(x) * 1e-9, 1e-300)


def _above(x: float) -> float:
    return float(np.nextafter(x, np.inf)) if x == 0 else x + max(abs(x) * 1e-9, 1e-300)


@dataclass(frozen=True)
class Choice(Parameter):
    """One of a fixed set of options (strings, say).

    Parameters
    ----------
    options : tuple
        The options.
    """

    options: tuple

    def validate(self, name: str, value):
        return validation.choice(name, value, self.options)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def outside(self) -> dict[str, object]:
        return {"bogus": "no-such-option", "int": 3}

    def sample(self, rng: np.random.Generator):
        return self.options[rng.integers(len(self.options))]


@dataclass(frozen=True)
class Flag(Parameter):
    """``True`` or ``False`` (a string such as ``"no"`` is refused, not taken as true)."""

    def validate(self, name: str, value) -> bool:
        return validation.flag(name, value)

    def describe(self) -> str:
        return "True or False"

    def outside(self) -> dict[str, object]:
        return {"string": "no", "int": 1}

    def sample(self, rng: np.random.Generator) -> bool:
        return bool(rng.integers(2))


@dataclass(frozen=True)
class Given(Parameter):
    """An argument that the function checks itself (a tensor of a given shape, a probability
    vector).

    Parameters
    ----------
    text : str
        Describes it.
    check : callable, optional
        Validates it, ``check(name, value)``, returning the value to pass on.
    bad : tuple
        Values that must be refused.
    draw : callable, optional
        Draws a valid value, ``draw(rng)``.
    """

    text: str
    check: Callable | None = None
    bad: tuple = ()
    draw: Callable | None = None

    def validate(self, name: str, value):
        return value if self.check is None else self.check(name, value)

    def describe(self) -> str:
        return self.text

    def outside(self) -> dict[str, object]:
        return {f"bad_{i}": value for i, value in enumerate(self.bad)}

    def sample(self, rng: np.random.Generator):
        if self.draw is None:
            raise NotImplementedError(f"no sampler for an argument that is {self.text}")
        return self.draw(rng)


@dataclass(frozen=True)
class Condition:
    """A joint condition on several arguments.

    Parameters
    ----------
    text : str
        The condition as the error message and the docstring show it.
    test : callable
        Takes those arguments by name (validated values) and returns whether the call is inside
        the domain.
    example : dict
        A set of arguments that violates it, for the hostile-input table (optional).
    """

    text: str
    test: Callable[..., bool]
    example: dict = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.test).parameters)

    def holds(self, arguments: dict) -> bool:
        return bool(self.test(**{name: arguments[name] for name in self.names}))


@dataclass(frozen=True)
class Domain:
    """The declared domain and accuracy of one function (see the module docstring).

    Parameters
    ----------
    function : str
        The function's qualified name.
    accuracy : Accuracy
        Its accuracy inside the domain.
    parameters : dict of str to Parameter
        Each declared argument's range.
    conditions : tuple of Condition
        The joint conditions.
    """

    function: str
    accuracy: Accuracy
    parameters: dict[str, Parameter]
    conditions: tuple[Condition, ...] = ()

    def validate(self, arguments: dict) -> dict:
        """Validate the arguments of a call.

        Parameters
        ----------
        arguments : dict
            The call's arguments by name.

        Returns
        -------
        dict
            The arguments, each declared one validated and converted.

        Raises
        ------
        ValueError
            A joint condition that fails (the message names it and the arguments' values), or a
            declared argument out of its range.
        TypeError
            A declared argument of the wrong kind.
        """
        checked = dict(arguments)
        for name, parameter in self.parameters.items():
            if name in checked:
                checked[name] = parameter.validate(name, checked[name])
        for condition in self.conditions:
            if not condition.holds(checked):
                shown = ", ".join(f"{name} = {checked[name]!r}" for name in condition.names)
                name = self.function.rsplit(".", 1)[-1]
                raise ValueError(f"{name} answers only where {condition.text}; got {shown}")
        return checked

    def describe(self) -> str:
        """The docstring section, a numpydoc section headed "Domain and accuracy".

        Returns
        -------
        str
            Each argument's range, the joint conditions and the accuracy, as reST that shows them as
            written.
        """
        lines = ["Domain and accuracy", "-------------------"]
        lines += [f"- ``{name}``: {_as_rest(p.describe())}" for name, p in self.parameters.items()]
        lines += [f"- where {_as_rest(c.text)}" for c in self.conditions]
        lines += [f"- accuracy: {_as_rest(self.accuracy.describe())}"]
        lines += ["", "Outside this domain the call raises ``ValueError``."]
        return "\n".join(lines)

    def outside(self) -> dict[str, dict[str, object]]:
        """Values just outside the domain.

        Returns
        -------
        dict
            Per argument, values just outside its range; under ``"where"``, each condition's
            violating example (a dict of arguments).
        """
        out = {name: p.outside() for name, p in self.parameters.items()}
        examples = {c.text: c.example for c in self.conditions if c.example}
        if examples:
            out["where"] = examples
        return out

    def sample(
        self, rng: np.random.Generator, fixed: dict | None = None, tries: int = 1000
    ) -> dict:
        """Draw arguments across the declared ranges.

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.
        fixed : dict, optional
            Arguments kept as given.
        tries : int
            The most draws.

        Returns
        -------
        dict
            Arguments drawn by each parameter's ``sample``, redrawn until every condition holds.

        Raises
        ------
        RuntimeError
            When no draw meets the conditions in ``tries`` draws.
        """
        fixed = dict(fixed or {})
        for _ in range(tries):
            drawn = {
                name: fixed[name] if name in fixed else p.sample(rng)
                for name, p in self.parameters.items()
            }
            drawn.update({k: v for k, v in fixed.items() if k not in drawn})
            if all(c.holds(drawn) for c in self.conditions):
                return drawn
        raise RuntimeError(f"no arguments of {self.function} met its conditions in {tries} draws")


def declare(
    accuracy: Accuracy,
    *,
    where: Sequence[Condition] = (),
    **parameters: Parameter,
):
    """Declare a function's domain and accuracy (see the module docstring).

    Parameters
    ----------
    accuracy : Accuracy
        The function's accuracy inside the domain.
    where : sequence of Condition
        Joint conditions on several arguments.
    **parameters : Parameter
        Each declared argument's range, by its name; every name must be a parameter of the
        function.

    Returns
    -------
    callable
        The decorator. The decorated function validates its arguments against the declaration,
        keeps it as ``.domain`` and shows it in its docstring.

    Raises
    ------
    TypeError
        ``accuracy`` not an :class:`Accuracy`; when decorating, names in ``parameters`` or in the
        conditions that are not parameters of the function.
    """
    if not isinstance(accuracy, Accuracy):
        raise TypeError(f"accuracy must be an Accuracy, got {accuracy!r}")

    def decorate(function):
        signature = inspect.signature(function)
        unknown = set(parameters) - set(signature.parameters)
        for condition in where:
            unknown |= set(condition.names) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{function.__qualname__} has no parameters {sorted(unknown)}")
        domain = Domain(
            f"{function.__module__}.{function.__qualname__}",
            accuracy,
            dict(parameters),
            tuple(where),
        )

        @functools.wraps(function)
        def checked(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as error:
                raise TypeError(f"{function.__name__}: {error}") from None
            bound.apply_defaults()
            bound.arguments.update(domain.validate(bound.arguments))
            return function(*bound.args, **bound.kwargs)

        checked.domain = domain
        doc = inspect.cleandoc(function.__doc__ or "")
        checked.__doc__ = f"{doc}\n\n{domain.describe()}\n"
        return checked

    return decorate


def domain_of(function) -> Domain | None:
    """The declaration of a public function.

    Parameters
    ----------
    function : callable
        The function.

    Returns
    -------
    Domain or None
        Its declaration, ``None`` if it has none.
    """
    return getattr(function, "domain", None)


def declared_error(function, values) -> float:
    """The mean bound on the error of values computed by a function, from its declared accuracy.

    Parameters
    ----------
    function : callable
        A function with a declaration.
    values : array_like
        Values it computed.

    Returns
    -------
    float
        :meth:`Accuracy.bound` of its accuracy over ``values``.

    Raises
    ------
    ValueError
        If ``function`` declares no accuracy (or a sampler's, which bounds no single value).
    """
    domain = domain_of(function)
    if domain is None:
        name = getattr(function, "__name__", repr(function))
        raise ValueError(f"{name} declares no accuracy: its error cannot be bounded")
    return domain.accuracy.bound(values)
