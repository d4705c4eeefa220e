"""``anb bench pipeline``: the command runs end to end on a tiny input, and its summary
pairs each run with its own round's reference (figures are never asserted: not a timed test)."""

from __future__ import annotations

import pytest

from anb_pipeline.bench import RunResult, VariantSummary, table
from anb_pipeline.cli import main


def run(variant: str, wall_s: float, *, problems: list[str] | None = None) -> RunResult:
    return RunResult(variant=variant, wall_s=wall_s, cpu_s=wall_s * 2, peak_rss_mib=100.0,
                     problems=problems or [])


def test_each_round_is_compared_with_its_own_reference() -> None:
    references = [run("reference", 10.0), run("reference", 20.0), run("reference", 10.0)]
    fused = VariantSummary.of([run("fused", 11.0), run("fused", 22.0), run("fused", 12.0)],
                              references)
    assert fused.wall_ratios == pytest.approx([1.1, 1.1, 1.2])
    assert fused.wall_s == 12.0  # the median
    single = VariantSummary.of([run("moviepy", 100.0, problems=["audio"])], references)
    assert single.wall_ratios == [10.0]
    rows = table([VariantSummary.of(references, references), fused, single]).splitlines()
    # The median of the paired ratios (1.10x), not the ratio of the medians (1.20x).
    assert rows[3].startswith("| fused | 12.00 | 24.00 | 100 | 1.10x | 1.10x | 1.10x / 1.10x / 1.20x")
    assert rows[4].endswith("| audio |")


@pytest.mark.slow
def test_the_command_runs_every_variant_and_checks_the_invariants(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["bench", "pipeline", "--seconds", "3", "--width", "320", "--height", "240",
                 "--rounds", "1", "--no-moviepy"])
    report = capsys.readouterr().out
    assert code == 0, report
    for variant in ("reference", "stepwise", "fused", "process"):
        assert f"| {variant} |" in report
    assert report.count("| pass |") == 4
    assert "| anb process − fused (start-up, shut-down) | " in report


def test_rounds_below_one_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match="--rounds must be 1 or more"):
        main(["bench", "pipeline", "--rounds", "0"])
