#!/usr/bin/python3
"""Unit tests of scripts/paper-page.py's statistics and premise machinery, on synthetic summary
rows (no binary, no records): the Student t quantile, the Welch interval, the smallest effect a
study could detect with 80 % power (MDE), a study's premise (met, not met, not measured), the
withholding of verdicts, the "Earlier settings" section, and the sweep settings a pivot filters on.

    /usr/bin/python3 tests/paper/paper_page_test.py [-v]
"""
import importlib.util
import math
import os
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_spec = importlib.util.spec_from_file_location("paper_page",
                                               os.path.join(ROOT, "scripts", "paper-page.py"))
page = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(page)


def row(cell, n=5, **measures):
    """A summary row as `guidance summarize` writes it: the cell's axes, n_finished, and
    "MEASURE mean" / "MEASURE std" for each measure=(mean, std)."""
    out = dict(cell)
    out["n_finished"] = str(n)
    out["n_found"] = str(n)
    for name, (mean, std) in measures.items():
        name = name.replace("_", " ")
        out[name + " mean"] = repr(mean)
        out[name + " std"] = repr(std)
    return out


class TQuantile(unittest.TestCase):
    def test_table_values(self):
        # Student t table: t(0.975, 4) = 2.776, t(0.8, 4) = 0.941, t(0.975, 8) = 2.306,
        # t(0.8, 8) = 0.889, t(0.975, 1) = 12.706, t(0.975, 30) = 2.042.
        self.assertAlmostEqual(page.t_quantile(0.975, 4), 2.776, places=3)
        self.assertAlmostEqual(page.t_quantile(0.8, 4), 0.941, places=3)
        self.assertAlmostEqual(page.t_quantile(0.975, 8), 2.306, places=3)
        self.assertAlmostEqual(page.t_quantile(0.8, 8), 0.889, places=3)
        self.assertAlmostEqual(page.t_quantile(0.975, 1), 12.706, places=3)
        self.assertAlmostEqual(page.t_quantile(0.975, 30), 2.042, places=3)

    def test_tends_to_the_normal_and_is_symmetric(self):
        self.assertAlmostEqual(page.t_quantile(0.975, 1e7), 1.95996, places=4)
        self.assertAlmostEqual(page.t_quantile(0.8, 1e7), 0.84162, places=4)
        self.assertAlmostEqual(page.t_quantile(0.025, 4), -page.t_quantile(0.975, 4), places=12)
        self.assertEqual(page.t_quantile(0.5, 3), 0.0)

    def test_fractional_df_lies_between_its_neighbours(self):
        value = page.t_quantile(0.975, 3.5)
        self.assertLess(page.t_quantile(0.975, 4), value)
        self.assertLess(value, page.t_quantile(0.975, 3))

    def test_cdf_inverts_the_quantile(self):
        for df in (1.3, 2, 7.7, 50):
            for p in (0.6, 0.8, 0.975, 0.999):
                self.assertAlmostEqual(page.t_cdf(page.t_quantile(p, df), df), p, places=9)

    def test_nonsense_is_nan(self):
        self.assertTrue(math.isnan(page.t_quantile(0.975, 0)))
        self.assertTrue(math.isnan(page.t_quantile(1.0, 4)))
        self.assertTrue(math.isnan(page.t_quantile(0.975, math.nan)))


class Welch(unittest.TestCase):
    def test_df(self):
        # Equal spreads and seeds: df = 2 (n − 1).
        self.assertAlmostEqual(page.welch_df(1, 5, 1, 5), 8.0, places=12)
        # v1 = 0.2, v2 = 0.4: (0.6)² / (0.2²/4 + 0.4²/9) = 12.96.
        self.assertAlmostEqual(page.welch_df(1, 5, 2, 10), 12.96, places=10)
        # One side without spread: df = the other side's n − 1.
        self.assertAlmostEqual(page.welch_df(0, 5, 1, 7), 6.0, places=12)

    def test_interval_matches_guidance_summarize(self):
        # results/paper/f6-language-model/summary.csv (written by `guidance summarize`): test
        # perplexity, RNN guided (15.09618252 ± 0.2590995136, n 3) against unguided
        # (8.666580994 ± 0.1461658108, n 3): +6.429601526 [+5.897970228, +6.961232824].
        difference, low, high = page.welch_interval(15.09618252, 0.2590995136, 3,
                                                    8.666580994, 0.1461658108, 3)
        self.assertAlmostEqual(difference, 6.429601526, places=8)
        self.assertAlmostEqual(low, 5.897970228, places=6)
        self.assertAlmostEqual(high, 6.961232824, places=6)

    def test_degenerate_intervals(self):
        self.assertTrue(math.isnan(page.welch_interval(1, 0.1, 1, 0, 0.1, 5)[1]))
        self.assertEqual(page.welch_interval(1, 0, 3, 0, 0, 3), (1, 1, 1))


class DetectableEffect(unittest.TestCase):
    def test_equal_groups_exact_formula(self):
        # n1 = n2 = 5, s1 = s2 = 1: df = 8; (t(0.975, 8) + t(0.8, 8)) · sqrt(1/5 + 1/5) with the
        # table's t(0.975, 8) = 2.306004, t(0.8, 8) = 0.888890.
        reference = (2.306004 + 0.888890) * math.sqrt(0.4)
        self.assertAlmostEqual(page.detectable_effect(1, 5, 1, 5), reference, places=5)
        self.assertAlmostEqual(reference, 2.0206, places=4)

    def test_scales_with_the_spread(self):
        self.assertAlmostEqual(page.detectable_effect(0.02, 5, 0.02, 5),
                               0.02 * page.detectable_effect(1, 5, 1, 5), places=12)

    def test_unequal_groups(self):
        # s1 = 1, n1 = 5; s2 = 2, n2 = 10: df = 12.96 ≈ 13, where the table gives t(0.975) =
        # 2.160 and t(0.8) = 0.870; sqrt(0.2 + 0.4) = 0.7746.
        self.assertAlmostEqual(page.detectable_effect(1, 5, 2, 10),
                               (2.160 + 0.870) * math.sqrt(0.6), places=2)

    def test_more_seeds_detect_smaller_effects(self):
        self.assertLess(page.detectable_effect(1, 10, 1, 10), page.detectable_effect(1, 5, 1, 5))
        self.assertLess(page.detectable_effect(1, 5, 1, 5), page.detectable_effect(1, 3, 1, 3))

    def test_degenerate(self):
        self.assertTrue(math.isnan(page.detectable_effect(1, 1, 1, 5)))
        self.assertTrue(math.isnan(page.detectable_effect(math.nan, 5, 1, 5)))
        self.assertEqual(page.detectable_effect(0, 5, 0, 5), 0.0)


RNN_ALONE = {"target.plugin": "released-rnn", "guidance.enabled": "false"}
TRANSFORMER_ALONE = {"target.plugin": "released-transformer", "guidance.enabled": "false"}
GUIDED = {"target.plugin": "released-transformer", "guidance.enabled": "true"}


def parity_rows(rnn_mean, rnn_std=0.01, n=5):
    return [row(RNN_ALONE, n, test_top1=(rnn_mean, rnn_std)),
            row(TRANSFORMER_ALONE, n, test_top1=(0.72, 0.03)),
            row(GUIDED, n, test_top1=(0.78, 0.02))]


class Premise(unittest.TestCase):
    def test_met(self):
        status, lines = page.evaluate_premise(page.PARITY_PREMISE, parity_rows(0.99))
        self.assertEqual(status, "met")
        self.assertEqual(len(lines), 2)
        self.assertTrue(all(line.endswith("**met**") for line in lines), lines)
        # The figures of each side: mean ± std and n.
        self.assertIn("0.9900 ± 0.0100 (n = 5)", lines[1])
        self.assertIn("0.7200 ± 0.0300 (n = 5)", lines[1])

    def test_not_met_when_the_guide_architecture_fails_the_task(self):
        status, lines = page.evaluate_premise(page.PARITY_PREMISE, parity_rows(0.54, 0.04))
        self.assertEqual(status, "not met")
        self.assertTrue(lines[0].endswith("**not met**"), lines)

    def test_not_met_when_one_condition_fails(self):
        # The RNN solves the task (level met) but the Transformer is as good (gap < 0.1).
        rows = parity_rows(0.99)
        rows[1] = row(TRANSFORMER_ALONE, 5, test_top1=(0.97, 0.01))
        status, lines = page.evaluate_premise(page.PARITY_PREMISE, rows)
        self.assertEqual(status, "not met")
        self.assertTrue(lines[0].endswith("**met**") and lines[1].endswith("**not met**"), lines)

    def test_a_gap_below_the_stated_minimum_is_not_met(self):
        premise = page.premise("a beats b", page.exceeds(page.side("a", {"x": "a"}, "test top1"),
                                                         page.side("b", {"x": "b"}, "test top1"),
                                                         min_gap=0.05))
        rows = [row({"x": "a"}, 5, test_top1=(0.70, 0.001)),
                row({"x": "b"}, 5, test_top1=(0.68, 0.001))]
        self.assertEqual(page.evaluate_premise(premise, rows)[0], "not met")
        rows[0] = row({"x": "a"}, 5, test_top1=(0.80, 0.001))
        self.assertEqual(page.evaluate_premise(premise, rows)[0], "met")

    def test_lower_is_better(self):
        rows = [row({"target.plugin": "released-transformer", "guidance.enabled": "false"}, 5,
                    test_perplexity=(34.0, 1.0)),
                row({"target.plugin": "released-rnn", "guidance.enabled": "false"}, 5,
                    test_perplexity=(69.0, 2.0))]
        self.assertEqual(page.evaluate_premise(page.LANGUAGE_MODEL_PREMISE, rows)[0], "met")
        rows[0] = row({"target.plugin": "released-transformer", "guidance.enabled": "false"}, 5,
                      test_perplexity=(80.0, 1.0))
        self.assertEqual(page.evaluate_premise(page.LANGUAGE_MODEL_PREMISE, rows)[0], "not met")

    def test_not_measured_without_the_premise_cell(self):
        # Today's F5 records have the RNN alone; a study without it cannot judge its premise.
        rows = parity_rows(0.99)[1:]
        status, lines = page.evaluate_premise(page.PARITY_PREMISE, rows)
        self.assertEqual(status, "not measured")
        self.assertIn("no cell target.plugin=released-rnn, guidance.enabled=false", lines[0])
        self.assertEqual(lines[0].count("no cell target.plugin=released-rnn"), 1, lines[0])

    def test_not_measured_without_the_axis_at_all(self):
        # Records made before premise cells existed have no target.plugin axis.
        rows = [row({"guide.init.plugin": "-", "guidance.enabled": "false"}, 3,
                    test_top1=(0.1, 0.0))]
        status, lines = page.evaluate_premise(page.DEEP_FCN_PREMISE, rows)
        self.assertEqual(status, "not measured")
        self.assertTrue(lines[0].startswith("premise not measured (no cell"), lines)

    def test_not_measured_without_the_measure(self):
        rows = [row(RNN_ALONE, 5, test_loss=(0.1, 0.0)),
                row(TRANSFORMER_ALONE, 5, test_loss=(0.5, 0.0))]
        status, lines = page.evaluate_premise(page.PARITY_PREMISE, rows)
        self.assertEqual(status, "not measured")
        self.assertIn("no measure test top1", lines[0])

    def test_one_seed_has_no_interval_and_does_not_meet(self):
        status, lines = page.evaluate_premise(page.PARITY_PREMISE, parity_rows(0.99, n=1))
        self.assertEqual(status, "not met")
        self.assertIn("no interval: n < 2", lines[0])

    def test_the_section_opens_with_the_premise_row(self):
        status, lines = page.premise_section(page.PARITY_PREMISE, parity_rows(0.54, 0.04))
        self.assertEqual(status, "not met")
        self.assertTrue(lines[0].startswith("**Premise:** the RNN"), lines[0])
        self.assertTrue(lines[0].endswith("— **not met**."), lines[0])

    def test_over_fitting_premise_states_the_gap(self):
        unguided = {"guidance.enabled": "false"}
        rows = [row(unguided, 5, last_validation_loss=(0.90, 0.02),
                    validation_loss=(0.70, 0.02), train_loss=(0.01, 0.001))]
        status, lines = page.evaluate_premise(page.WIDE_FCN_PREMISE, rows)
        self.assertEqual(status, "met")
        self.assertIn("Δ +0.2000", lines[0])
        self.assertIn("Δ +0.6900", lines[1])

    def test_every_study_declares_a_premise(self):
        for finding in page.FINDINGS:
            for spec in finding["studies"]:
                self.assertTrue(spec.get("premise"), f"{finding['id']} {spec['name']}")
                self.assertTrue(spec["premise"]["conditions"])
            for spec in finding.get("consistency", []):
                self.assertTrue(spec.get("premise"), f"{finding['id']} {spec['study']}")


class Withholding(unittest.TestCase):
    def test_reasons(self):
        self.assertEqual(page.withheld("met", 5, 5), "")
        self.assertEqual(page.withheld("not met", 5, 5), "premise not met")
        self.assertEqual(page.withheld("not measured", 5, 8), "premise not measured")
        self.assertEqual(page.withheld("met", 3, 5), "n < 5: too few to decide")
        self.assertEqual(page.withheld("not met", 5, 4),
                         "premise not met; n < 5: too few to decide")

    def test_baseline_row_is_found_from_its_label(self):
        rows = [row({"a": "1", "b": "-", "train.learning_rate": "0.001"}, 5),
                row({"a": "2", "b": "x", "train.learning_rate": "0.003"}, 5)]
        rows[1]["baseline"] = "a=1, b=-, train.learning_rate=0.001"
        self.assertIs(page.baseline_row(rows, rows[1]), rows[0])
        rows[1]["baseline"] = "a=3, b=-"
        self.assertIsNone(page.baseline_row(rows, rows[1]))


class EarlierSettings(unittest.TestCase):
    def test_included_when_the_file_exists(self):
        with tempfile.TemporaryDirectory() as folder:
            self.assertEqual(page.earlier_settings(folder), [])
            with open(os.path.join(folder, page.EARLIER_SETTINGS), "w") as f:
                f.write("Measured with X.\n\n| finding | verdict |\n|---|---|\n| F1 | y |\n")
            lines = page.earlier_settings(folder)
            self.assertEqual(lines[0], "## Earlier settings\n")
            self.assertIn("| F1 | y |", lines[1])

    def test_the_committed_file_keeps_every_finding(self):
        with open(os.path.join(ROOT, "results", "paper", page.EARLIER_SETTINGS)) as f:
            text = f.read()
        for finding in page.FINDINGS:
            self.assertIn(f"| {finding['id']} |", text)
        self.assertIn("3 seeds", text)



class SweepSettings(unittest.TestCase):
    """The F8 pivot keeps the runs whose sweep-cell.toml matches a filter on dotted keys."""

    def test_inline_tables_are_flattened_and_values_kept_as_text(self):
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "sweep-cell.toml"), "w") as f:
                f.write('study = "s"\n[settings]\n"run.seed" = "1"\n'
                        '"target" = "{ depth = 6, plugin = \\"mlp\\", width = 256 }"\n'
                        '"guidance.enabled" = "true"\n"guidance.alpha" = "1.0"\n'
                        '"guidance.distillation" = "{}"\n')
            settings = page.sweep_settings(folder)
        self.assertEqual(settings["target.plugin"], "mlp")
        self.assertEqual(settings["target.depth"], "6")
        self.assertEqual(settings["guidance.enabled"], "true")
        self.assertEqual(settings["guidance.alpha"], "1.0")
        self.assertNotIn("target", settings)
        self.assertNotIn("guidance.distillation", settings)


if __name__ == "__main__":
    unittest.main()
