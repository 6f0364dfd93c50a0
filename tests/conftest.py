"""Shared fixtures: figures are drawn off-screen and closed after every test."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest


@pytest.fixture
def fig():
    """A fresh figure the size of the notebooks' widget figures."""
    figure = plt.figure(figsize=(11, 4.6))
    yield figure
    plt.close(figure)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")
