// A run that gets killed: creates a record, appends and flushes rows 1..FLUSHED (a snapshot at
// every 10th step), buffers rows up to BUFFERED without flushing, says "ready" on stdout and
// waits to be killed. Used by RunRecordTest to check what a SIGKILLed writer leaves behind.
//
//   record-writer-process PATH FLUSHED BUFFERED

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>

#include "tests/host/recording/SyntheticRecord.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PATH FLUSHED BUFFERED\n", argv[0]);
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
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) pause();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "record-writer-process: %s\n", error.what());
    return 1;
  }
}
