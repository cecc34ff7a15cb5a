#include "host/training/Checkpoint.h"

#include <unistd.h>

#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include "host/common/Errors.h"

namespace guidance {

namespace fs = std::filesystem;

namespace {

void write_tensors(torch::nn::Module& module, torch::serialize::OutputArchive& archive) {
  for (const auto& item : module.named_parameters()) archive.write(item.key(), item.value());
  for (const auto& item : module.named_buffers()) archive.write(item.key(), item.value(), true);
}

std::string shape_text(const torch::Tensor& tensor) {
  std::string text = "[";
  for (int64_t i = 0; i < tensor.dim(); ++i) text += (i ? ", " : "") + std::to_string(tensor.size(i));
  return text + "]";
}

void read_tensors(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                  const std::string& path) {
  std::vector<std::string> problems;
  std::vector<std::string> expected;
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& target, bool buffer) {
    expected.push_back(name);
    torch::Tensor stored;
    if (!archive.try_read(name, stored, buffer)) {
      problems.push_back("missing tensor '" + name + "' (expected shape " + shape_text(target) + ")");
    } else if (stored.sizes() != target.sizes()) {
      problems.push_back("tensor '" + name + "' has shape " + shape_text(stored) +
                         ", the network expects " + shape_text(target));
    } else {
      target.copy_(stored);
    }
  };
  for (auto& item : module.named_parameters()) load(item.key(), item.value(), false);
  for (auto& item : module.named_buffers()) load(item.key(), item.value(), true);
  for (const auto& key : archive.keys()) {
    if (std::find(expected.begin(), expected.end(), key) == expected.end()) {
      problems.push_back("unexpected tensor '" + key + "' (the network has no such parameter)");
    }
  }
  if (!problems.empty()) {
    std::string message = "weights file '" + path + "' does not match the network:";
    for (const auto& problem : problems) message += "\n  " + problem;
    throw RunError(message);
  }
}

/// The global CPU generator (dropout, noise inputs): part of a checkpoint so resumed runs match.
at::Generator default_generator() { return at::detail::getDefaultCPUGenerator(); }

template <typename Write>
void write_atomically(const std::string& path, Write write) {
  fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  // Unique per process: sweep shards sharing a guide cache may write the same file at once.
  std::string temporary = path + ".partial." + std::to_string(getpid());
  torch::serialize::OutputArchive archive;
  write(archive);
  try {
    archive.save_to(temporary);
  } catch (const c10::Error& error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw RunError("cannot write '" + temporary + "': " + error.what_without_backtrace());
  }
  fs::rename(temporary, target);
}

torch::serialize::InputArchive open_archive(const std::string& path, const char* what) {
  if (!fs::exists(path)) throw RunError(std::string(what) + " '" + path + "' does not exist");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& error) {
    throw RunError(std::string(what) + " '" + path + "' cannot be read: " +
                   error.what_without_backtrace());
  }
  return archive;
}

}  // namespace

void save_weights(torch::nn::Module& module, const std::string& path) {
  write_atomically(path, [&](torch::serialize::OutputArchive& archive) {
    write_tensors(module, archive);
  });
}

void load_weights(torch::nn::Module& module, const std::string& path) {
  torch::serialize::InputArchive archive = open_archive(path, "weights file");
  read_tensors(module, archive, path);
}

void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const TrainingProgress& progress) {
  write_atomically(path, [&](torch::serialize::OutputArchive& archive) {
    torch::serialize::OutputArchive weights;
    write_tensors(model, weights);
    archive.write("model", weights);
    torch::serialize::OutputArchive optimizer_state;
    optimizer.save(optimizer_state);
    archive.write("optimizer", optimizer_state);
    archive.write("step", torch::tensor(progress.step));
    archive.write("best_score", torch::tensor(progress.best_score, torch::kDouble));
    archive.write("best_step", torch::tensor(progress.best_step));
    archive.write("rng", default_generator().get_state());
  });
}

TrainingProgress load_checkpoint(const std::string& path, torch::nn::Module& model,
                                 torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive archive = open_archive(path, "checkpoint");
  TrainingProgress progress;
  try {
    torch::serialize::InputArchive weights;
    archive.read("model", weights);
    read_tensors(model, weights, path);
    torch::serialize::InputArchive optimizer_state;
    archive.read("optimizer", optimizer_state);
    optimizer.load(optimizer_state);
    auto read = [&](const char* key) {
      torch::Tensor value;  // a fresh tensor each time: read() refuses to resize a used one
      archive.read(key, value);
      return value;
    };
    progress.step = read("step").item<int64_t>();
    progress.best_score = read("best_score").item<double>();
    progress.best_step = read("best_step").item<int64_t>();
    default_generator().set_state(read("rng"));
  } catch (const c10::Error& error) {
    throw RunError("checkpoint '" + path + "' is incomplete or from another run: " +
                   error.what_without_backtrace());
  }
  return progress;
}

}  // namespace guidance
