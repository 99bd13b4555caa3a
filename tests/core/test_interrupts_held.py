"""`errors.interrupts_held`: Ctrl-C and SIGTERM inside the block take effect at its end, a second at once."""

import os
import signal

import pytest

from srcnn.core.errors import Terminated, interrupts_held


@pytest.fixture
def handlers():
    """SIGINT raising KeyboardInterrupt and SIGTERM raising Terminated, as under `exit_on_interrupt`."""
    def terminate(signum, frame):
        raise Terminated()

    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: signal.signal(signal.SIGTERM, terminate)}
    yield terminate
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_a_signal_inside_the_block_raises_when_the_block_ends(handlers, signum, raised):
    finished = []
    with pytest.raises(raised):
        with interrupts_held():
            os.kill(os.getpid(), signum)
            finished.append("the rest of the block")
        finished.append("after the block")
    assert finished == ["the rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and signal.getsignal(signal.SIGTERM) is handlers


def test_a_second_signal_raises_at_once(handlers):
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            reached.append("after the first")
            os.kill(os.getpid(), signal.SIGINT)
            reached.append("after the second")
    assert reached == ["after the first"]


def test_held_blocks_nest_and_the_outer_one_raises(handlers):
    reached = []
    with pytest.raises(Terminated):
        with interrupts_held():
            with interrupts_held():
                os.kill(os.getpid(), signal.SIGTERM)
            reached.append("the outer block goes on")
    assert reached == ["the outer block goes on"]


def test_a_quiet_block_raises_nothing_and_an_error_inside_it_is_what_propagates(handlers):
    with interrupts_held():
        pass
    with pytest.raises(ValueError):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            raise ValueError("the block's own error")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored(handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with interrupts_held():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
