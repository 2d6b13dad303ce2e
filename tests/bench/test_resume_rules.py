"""The resume storm's pure pieces: retry back-off and the catch-up figures."""

from __future__ import annotations

from bench.resume import catch_up_figures, cpu_per_catch_up, resume_batching, retry_delay_s


def test_a_failed_resume_backs_off_exponentially_up_to_a_second() -> None:
    assert [retry_delay_s(k) for k in (1, 2, 3, 5, 6, 20)] == [0.05, 0.1, 0.2, 0.8, 1.0, 1.0]


def test_catch_up_is_the_last_client_and_none_while_anyone_is_missing_messages() -> None:
    second = 1_000_000_000
    answers = [
        {"clients": 2, "welcomed": [second], "caught_up_ns": [2 * second, 4 * second],
         "errors": {"INTERNAL": 1}, "error_messages": {"INTERNAL": "CANCELLED"}, "resume_retries": 1,
         "failures": []},
        {"clients": 1, "welcomed": [3 * second], "caught_up_ns": [3 * second], "errors": {},
         "error_messages": {}, "resume_retries": 0, "failures": []},
    ]  # fmt: skip
    figures = catch_up_figures(0, answers)
    assert (figures["catchup_s"], figures["catchup_median_s"], figures["all_welcomed_s"]) == (4.0, 3.0, 3.0)
    assert (figures["errors"], figures["error_codes"], figures["resume_retries"]) == (1, {"INTERNAL": 1}, 1)
    answers[1]["caught_up_ns"] = []
    assert catch_up_figures(0, answers)["catchup_s"] is None


def test_cpu_is_reported_per_client_and_per_message_caught_up() -> None:
    assert cpu_per_catch_up(3.0, 2000, 50) == {
        "server_cpu_us_per_client": 1500.0,
        "server_cpu_us_per_message": 30.0,
    }
    assert cpu_per_catch_up(3.0, 0, 50) == {
        "server_cpu_us_per_client": None,
        "server_cpu_us_per_message": None,
    }


def test_resumes_per_call_come_from_the_edges_counters_over_the_storm() -> None:
    before = {"resume_calls": 5.0, "resumes_sent": 5.0}
    assert resume_batching(before, {"resume_calls": 105.0, "resumes_sent": 2005.0}) == {
        "resume_calls": 100.0,
        "resumes_per_call": 20.0,
    }
    assert resume_batching(before, before) == {"resume_calls": 0.0, "resumes_per_call": None}
