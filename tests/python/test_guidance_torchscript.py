#!/usr/bin/python3
"""Tests guidance_torchscript (python/): an unmodified torchvision-style CNN exported with the
modules it taps named, checked against the model itself, by `guidance plugins test
--input-shape`, and used as the guide of a short run whose record names its taps.

    PYTHONPATH=python tests/python/test_guidance_torchscript.py --cli build/bin/guidance \\
        [--workdir DIR]

Needs Debian's python3-torch (the LibTorch the workbench links) and h5py, and Fashion-MNIST
(dataset-fashion-mnist) for the guided run.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

import torch
from torch import nn

import cli_arguments
import guidance_torchscript
from guidance_records import Record
from guidance_torchscript import TapError

ARGS = None  # --cli and --workdir, parsed before unittest sees the command line
HELPER = os.path.abspath(guidance_torchscript.__file__)

# A plain network as torchvision writes them, with no tap convention; the test's module file
# (for the command line) holds the same source.
MODEL_SOURCE = textwrap.dedent("""
    import torch
    from torch import nn

    class SmallCnn(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                nn.MaxPool2d(2))
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(inplace=True), nn.Dropout(0.5),
                nn.Linear(32, classes))

        def forward(self, x):
            return self.classifier(self.features(x))
""")
namespace = {}
exec(MODEL_SOURCE, namespace)  # pylint: disable=exec-used
SmallCnn = namespace["SmallCnn"]

# Out of network order on purpose: the file lists them in the order forward runs them.
NAMED = ["classifier.1", "features.0", "features.3"]
TAPS = ["features.0", "features.3", "classifier.1"]


def trained_statistics(model):
    """Batch norm's running statistics moved off 0 and 1, so the file must use them."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 1, 28, 28))
    return model.eval()


def hooked(model, x, names):
    """@return the model's logits and its named modules' outputs (copied as they return:
    the ReLUs after them are in place)."""
    modules = dict(model.named_modules())
    outputs = {}
    handles = [modules[name].register_forward_hook(
        lambda module, inputs, output, name=name: outputs.__setitem__(name, output.clone()))
        for name in names]
    try:
        with torch.no_grad():
            return model(x), outputs
    finally:
        for handle in handles:
            handle.remove()


class ExportTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        os.makedirs(ARGS.workdir, exist_ok=True)
        cls.directory = tempfile.mkdtemp(prefix="guidance-torchscript-", dir=ARGS.workdir)
        torch.manual_seed(0)
        cls.model = trained_statistics(SmallCnn())
        cls.path = os.path.join(cls.directory, "cnn.pt")
        cls.written = guidance_torchscript.export(cls.model, torch.randn(2, 1, 28, 28), cls.path,
                                                  taps=NAMED)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.directory)

    def cli(self, *arguments, cwd=None):
        return subprocess.run([ARGS.cli, *arguments], cwd=cwd or self.directory,
                              capture_output=True, text=True, timeout=300)

    def test_the_file_follows_the_convention_with_the_named_taps_in_network_order(self):
        self.assertEqual(self.written, TAPS)
        loaded = torch.jit.load(self.path)
        self.assertEqual(list(loaded.guidance_taps), TAPS)
        self.assertEqual(loaded.guidance_inputs, "image")
        # The model's own parameter names, so `weights = "file"` and checkpoints match them.
        self.assertEqual([name for name, _ in loaded.named_parameters()],
                         [name for name, _ in self.model.named_parameters()])

    def test_outputs_equal_the_hooked_module_outputs_of_the_model(self):
        loaded = torch.jit.load(self.path)
        x = torch.randn(5, 1, 28, 28)  # another batch size than the example's
        logits, taps = loaded(x)
        expected_logits, expected = hooked(self.model, x, TAPS)
        self.assertEqual(list(taps), TAPS)
        self.assertTrue(torch.allclose(logits, expected_logits, atol=1e-6))
        for name in TAPS:
            self.assertEqual(taps[name].shape, expected[name].shape, name)
            self.assertTrue(torch.allclose(taps[name], expected[name], atol=1e-6), name)
        # The conv's own output, not the in-place ReLU's after it.
        self.assertLess(taps["features.0"].min().item(), 0.0)

    def test_default_taps_are_the_convolutions_and_linear_layers_but_the_logits_layer(self):
        path = os.path.join(self.directory, "default.pt")
        written = guidance_torchscript.export(self.model, torch.randn(2, 1, 28, 28), path)
        self.assertEqual(written, ["features.0", "features.4", "classifier.1"])
        self.assertFalse(self.model.training, "left in the mode it was in")

    def test_a_misspelt_module_name_is_refused_naming_a_close_match(self):
        with self.assertRaises(TapError) as caught:
            guidance_torchscript.export(self.model, torch.randn(2, 1, 28, 28),
                                        os.path.join(self.directory, "never.pt"),
                                        taps=["feature.0", "classifier.1"])
        message = str(caught.exception)
        self.assertIn("no module 'feature.0'", message)
        self.assertIn("did you mean 'features.0'", message)
        self.assertIn(f"it has {len(list(self.model.named_modules())) - 1} modules", message)
        self.assertFalse(os.path.exists(os.path.join(self.directory, "never.pt")))

    def test_a_module_that_runs_twice_is_refused(self):
        class SharedRelu(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2, self.relu = nn.Linear(4, 4), nn.Linear(4, 2), nn.ReLU()

            def forward(self, x):
                return self.fc2(self.relu(self.fc1(self.relu(x))))

        with self.assertRaisesRegex(TapError, "module 'relu' \\(ReLU\\) runs 2 times in one "
                                    "forward, so its output is ambiguous"):
            guidance_torchscript.export(SharedRelu(), torch.randn(2, 4),
                                        os.path.join(self.directory, "never.pt"), taps=["relu"])

    def test_a_token_model_gets_sequence_and_flat_taps(self):
        class Tokens(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = nn.Embedding(6, 8)
                self.rnn = nn.GRU(8, 8, batch_first=True)
                self.pool = nn.Linear(8, 8)
                self.head = nn.Linear(8, 2)

            def forward(self, tokens):
                hidden, _ = self.rnn(self.embedding(tokens))
                return self.head(torch.relu(self.pool(hidden.mean(1))))

        path = os.path.join(self.directory, "tokens.pt")
        written = guidance_torchscript.export(Tokens(), torch.randint(0, 6, (2, 8)), path,
                                              inputs="tokens")
        self.assertEqual(written, ["rnn", "pool"])
        loaded = torch.jit.load(path)
        self.assertEqual(list(loaded.guidance_flat_taps), ["pool"])
        self.assertEqual(loaded.guidance_inputs, "tokens")
        checked = self.cli("plugins", "test", f'{{ plugin = "torchscript", path = "{path}" }}')
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        self.assertIn("PASS  architecture torchscript: gradients reach every parameter "
                      "(contract-tokens-class)", checked.stdout)

    def test_plugins_test_passes_with_the_input_shape_it_was_made_for(self):
        subject = f'{{ plugin = "torchscript", path = "{self.path}" }}'
        checked = self.cli("plugins", "test", subject, "--input-shape", "1,28,28")
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        self.assertNotIn("FAIL", checked.stdout)
        self.assertIn("PASS  architecture torchscript: gradients reach every parameter "
                      "(contract-image)", checked.stdout)
        # The default task's 3×32×32 images do not fit a 1-channel network.
        default = self.cli("plugins", "test", subject)
        self.assertEqual(default.returncode, 1, default.stdout + default.stderr)
        self.assertIn("refused every test task", default.stdout)

    def test_a_guided_run_uses_it_as_the_guide_with_its_taps(self):
        run = os.path.join(self.directory, "run")
        os.makedirs(run)
        with open(os.path.join(run, "run.toml"), "w") as config:
            config.write(textwrap.dedent(f"""\
                [run]
                name = "exported-guide"
                threads = 1
                output = "out"
                checkpoint_every = 0

                [dataset]
                plugin = "fashion-mnist"
                train_subset = 256
                validation_size = 64

                [target]
                plugin = "mlp"
                depth = 3
                width = 32

                [guide]
                plugin = "torchscript"
                path = "{self.path}"
                weights = "file"

                [train]
                batch_size = 32
                max_steps = 4

                [record]
                at_end = false
                """))
        result = self.cli("run", "--quiet", "run.toml", cwd=run)
        self.assertEqual(result.returncode, 0, result.stderr)
        with Record(os.path.join(run, "out", "exported-guide", "run.h5")) as record:
            self.assertEqual(record.state, "completed")
            self.assertEqual(record.taps("guide"), TAPS)
            self.assertTrue(all(name.startswith("guide.") for name in record.pair_names),
                            record.pair_names)
            self.assertTrue((record.training()["guidance_loss"] > 0).all())

    def test_command_line_lists_modules_exports_and_refuses_a_misspelt_name(self):
        source = os.path.join(self.directory, "small_cnn.py")
        with open(source, "w") as file:
            file.write(MODEL_SOURCE)
        helper = [sys.executable, HELPER, f"{source}:SmallCnn", "--input-shape", "1,28,28"]
        usage = subprocess.run([sys.executable, HELPER, "--help"], capture_output=True, text=True,
                               timeout=60)
        self.assertEqual(usage.returncode, 0, usage.stderr)
        self.assertIn("--taps", usage.stdout)
        listed = subprocess.run(helper + ["--list"], capture_output=True, text=True, timeout=120)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertRegex(listed.stdout, r"features\.4 +Conv2d +1x  \[2, 16, 14, 14\]")
        path = os.path.join(self.directory, "cli.pt")
        exported = subprocess.run(helper + [path, "--taps", ",".join(NAMED)],
                                  capture_output=True, text=True, timeout=120)
        self.assertEqual(exported.returncode, 0, exported.stderr)
        self.assertEqual(exported.stdout.strip(), f"{path}: taps " + ", ".join(TAPS))
        self.assertEqual(list(torch.jit.load(path).guidance_taps), TAPS)
        refused = subprocess.run(helper + [path, "--taps", "features.0,clasifier.1"],
                                 capture_output=True, text=True, timeout=120)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("guidance_torchscript: error: the model has no module 'clasifier.1' "
                      "(did you mean 'classifier.1'", refused.stderr)


def main():
    global ARGS
    ARGS, rest = cli_arguments.parsed(__doc__)
    unittest.main(argv=[sys.argv[0], *rest])


if __name__ == "__main__":
    main()
