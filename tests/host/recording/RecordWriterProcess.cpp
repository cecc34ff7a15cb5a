// A run that gets killed: creates a record, appends and flushes rows 1..FLUSHED (a snapshot at
// every 10th step), buffers rows up to BUFFERED without flushing, says "ready" on stdout and
// waits to be killed. Used by RunRecordTest to check what a SIGKILLed writer leaves behind.
// With `in-snapshot`, it then starts the snapshot at step BUFFERED and says "ready" once it has
// written the snapshot's activations and its first similarity matrix, so it is killed inside a
// snapshot.
//
//   record-writer-process PATH FLUSHED BUFFERED [in-snapshot]

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "tests/host/recording/SyntheticRecord.h"

namespace {

// Linear CKA that calls `pause` on its `pause_at`-th comparison.
class PausingMetric : public guidance::testing::TestLinearCka {
 public:
  PausingMetric(int64_t pause_at, std::function<void()> pause)
      : pause_at_(pause_at), pause_(std::move(pause)) {}
  torch::Tensor compute(const torch::Tensor& x, const torch::Tensor& y) const override {
    if (++calls_ == pause_at_) pause_();
    return TestLinearCka::compute(x, y);
  }

 private:
  int64_t pause_at_;
  std::function<void()> pause_;
  mutable int64_t calls_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5 || (argc == 5 && std::string(argv[4]) != "in-snapshot")) {
    std::fprintf(stderr, "usage: %s PATH FLUSHED BUFFERED [in-snapshot]\n", argv[0]);
    return 2;
  }
  try {
    std::string path = argv[1];
    int64_t flushed = std::stoll(argv[2]);
    int64_t buffered = std::stoll(argv[3]);
    guidance::RecordLayout layout = guidance::testing::synthetic_layout();
    auto record =
        guidance::RunRecord::create(path, guidance::testing::synthetic_provenance(), layout);
    record->write_probe(torch::arange(24), torch::arange(24) % 10);
    std::vector<std::shared_ptr<guidance::Metric>> metrics = {
        std::make_shared<guidance::testing::TestLinearCka>()};
    for (int64_t step = 1; step <= buffered; ++step) {
      record->append_training(
          guidance::testing::synthetic_training_row(step, layout.pair_names.size()));
      if (step <= flushed && step % 10 == 0) {
        auto activations = guidance::testing::synthetic_activations(layout, 24, step);
        record->write_snapshot(step, activations.guide, activations.target, metrics);
      }
      if (step == flushed) record->flush();
    }
    auto wait_to_be_killed = [] {
      std::printf("ready\n");
      std::fflush(stdout);
      for (;;) pause();
    };
    if (argc == 5) {
      guidance::testing::SyntheticActivations activations =
          guidance::testing::synthetic_activations(layout, 24, buffered);
      guidance::SnapshotSource source;
      source.examples = 24;
      source.batch_size = 6;
      source.activations = [&](const std::string& side, int64_t begin, int64_t end) {
        std::vector<torch::Tensor> rows;
        for (const auto& tap : side == "guide" ? activations.guide : activations.target) {
          rows.push_back(tap.narrow(0, begin, end - begin));
        }
        return rows;
      };
      // The second matrix's first entry: the first matrix is written.
      const int64_t pause_at = static_cast<int64_t>(layout.guide_taps.size() *
                                                    layout.target_taps.size()) + 1;
      record->write_snapshot(buffered, source, {std::make_shared<PausingMetric>(pause_at,
                                                                                wait_to_be_killed)});
    }
    wait_to_be_killed();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "record-writer-process: %s\n", error.what());
    return 1;
  }
}
