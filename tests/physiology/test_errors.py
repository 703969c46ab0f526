"""Bad input is refused before any compute, naming the field, the value and what is allowed."""

import numpy as np
import pytest

import vhtwin as vh
from vhtwin import InputError

individual, population = vh.physiology.individual, vh.physiology.population


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(age=15.0), r"age 15.* outside the adult range .* 18 to 80 y"),
        (dict(age=[30.0, 95.0]), r"age 95.* 18 to 80 y"),
        (dict(sex="robot"), r"sex 'robot' is not known"),
        (dict(sex=2), r"sex code 2 is not known"),
        (dict(weight=0.0), r"weight 0 kg must be a finite number > 0"),
        (dict(weight=-70.0), r"weight -70 kg"),
        (dict(height=np.nan), r"height nan cm"),
        (dict(height="tall"), r"height must be a number"),
        (dict(age=[30.0, 40.0], weight=[70.0, 80.0, 90.0]), r"arrays of one length"),
    ],
)
def test_individual_refuses(kwargs, match):
    args = dict(age=35.0, sex="male", weight=73.0, height=176.0) | kwargs
    with pytest.raises(InputError, match=match):
        individual(**args)


def test_impossible_individual_names_the_fields():
    with pytest.raises(InputError, match=r"impossible individual .*weight 35 kg, height 200 cm.*fat would be -"):
        individual(35.0, "male", 35.0, 200.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(age=(10, 40)), r"age 10.* outside the adult range"),
        (dict(age=(50, 40)), r"age range \(50, 40\) y must have 0 < low < high"),
        (dict(age=30), r"age must be a pair"),
        (dict(sex="robot"), r"sex 'robot' is not known"),
        (dict(sex=1.5), r"fraction female in \[0, 1\]"),
        (dict(weight=(100, 50)), r"weight range \(100, 50\) kg"),
        (dict(weight=(-5, 50)), r"weight range"),
        (dict(bmi=(0, 20)), r"bmi range \(0, 20\) kg m-2"),
        (dict(n=0), r"n must be an integer >= 1"),
        (dict(n=2.5), r"n must be an integer"),
        (dict(first_patient=-1), r"first_patient must be an integer >= 0"),
        (dict(seed=-3), r"seed -3"),
        (dict(volume_cv=-0.1), r"volume_cv must be a coefficient of variation"),
        (dict(weight=(300, 310), max_attempts=50), r"no draw within weight \(300.0, 310.0\) kg .* in 50 attempts"),
    ],
)
def test_population_refuses(kwargs, match):
    args = dict(n=10, seed=1) | kwargs
    with pytest.raises(InputError, match=match):
        population(**args)
