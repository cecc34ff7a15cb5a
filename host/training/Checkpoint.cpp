#include "host/training/Checkpoint.h"

#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include "guidance/api/InputFile.h"
#include "host/common/AtomicFile.h"
#include "host/common/Errors.h"
#include "host/common/Fnv1a.h"

namespace guidance {

namespace {

constexpr const char* kFormatKey = "__guidance_format";
constexpr const char* kChecksumKey = "__guidance_checksum";
constexpr const char* kModelPrefix = "model.";

/// The tensors of one weights or checkpoint file by name; std::map keeps the checksum's order.
using Entries = std::map<std::string, torch::Tensor>;

/// FNV-1a over every entry's name, dtype, shape and bytes: any changed byte changes it.
int64_t checksum(const Entries& entries) {
  uint64_t hash = kFnv1aOffsetBasis;
  for (const auto& [name, tensor] : entries) {
    torch::Tensor values = tensor.detach().to(torch::kCPU).contiguous();
    hash = fnv1a(hash, name.data(), name.size() + 1);
    auto dtype = static_cast<int64_t>(values.scalar_type());
    hash = fnv1a(hash, &dtype, sizeof(dtype));
    for (int64_t size : values.sizes()) hash = fnv1a(hash, &size, sizeof(size));
    hash = fnv1a(hash, values.data_ptr(), values.nbytes());
  }
  return static_cast<int64_t>(hash);
}

torch::Tensor bytes_tensor(const std::string& bytes) {
  return torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<int64_t>(bytes.size())},
                          torch::kUInt8)
      .clone();
}

std::string tensor_bytes(const torch::Tensor& tensor) {
  torch::Tensor values = tensor.to(torch::kCPU).contiguous();
  const char* data = static_cast<const char*>(values.data_ptr());
  return std::string(data, data + values.nbytes());
}

std::string serialize(Entries entries) {
  entries.erase(kChecksumKey);
  entries[kFormatKey] = torch::tensor(kWeightsFormatVersion);
  entries[kChecksumKey] = torch::tensor(checksum(entries));
  torch::serialize::OutputArchive archive;
  for (const auto& [name, tensor] : entries) archive.write(name, tensor.detach(), true);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

/// @return the tensors of a PyTorch state_dict saved by `torch.save(dict(state_dict), path)` (zip
/// format), by name; nothing when the file is not a plain dict of tensors keyed by strings.
std::optional<Entries> read_state_dict(const std::string& bytes) {
  c10::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!value.isGenericDict()) return std::nullopt;
  Entries entries;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor()) return std::nullopt;
    entries[item.key().toStringRef()] = item.value().toTensor();
  }
  return entries;
}

/// Reads every tensor of a file and, when it carries a checksum, verifies it and its version.
Entries read_verified(const std::string& path, const char* what) {
  std::string bytes;
  try {
    bytes = InputFile::open(path).read_all();
  } catch (const std::runtime_error& error) {
    throw RunError(std::string(what) + " " + error.what());
  }
  Entries entries;
  try {
    torch::serialize::InputArchive archive;
    std::istringstream in(bytes);
    archive.load_from(in, torch::Device(torch::kCPU));
    for (const auto& key : archive.keys()) {
      c10::IValue value;
      if (archive.try_read(key, value) && value.isTensor()) entries[key] = value.toTensor();
    }
  } catch (const c10::Error& archive_error) {
    // Not a workbench archive: a PyTorch `torch.save(model.state_dict(), path)`, perhaps.
    std::optional<Entries> state_dict = read_state_dict(bytes);
    if (!state_dict) {
      throw RunError(std::string(what) + " '" + path + "' cannot be read (damaged, or neither a "
                     "workbench weights file nor a PyTorch state_dict saved as a plain dict, "
                     "torch.save(dict(model.state_dict()), path): LibTorch cannot rebuild the "
                     "OrderedDict state_dict() returns): " + archive_error.what_without_backtrace());
    }
    return *state_dict;
  }
  auto stored = entries.find(kChecksumKey);
  if (stored == entries.end()) {
    if (entries.count(kFormatKey)) {
      throw RunError(std::string(what) + " '" + path + "' has lost its checksum: it is damaged");
    }
    return entries;  // made elsewhere (e.g. exported from PyTorch): nothing to verify
  }
  int64_t expected = stored->second.item<int64_t>();
  entries.erase(stored);
  if (checksum(entries) != expected) {
    throw RunError(std::string(what) + " '" + path + "' is damaged: its checksum does not match "
                   "its contents (restore it or delete it to start that run over)");
  }
  auto version = entries.find(kFormatKey);
  int64_t format = version == entries.end() ? -1 : version->second.item<int64_t>();
  if (format != kWeightsFormatVersion) {
    throw RunError(std::string(what) + " '" + path + "' has format version " +
                   std::to_string(format) + "; this build reads version " +
                   std::to_string(kWeightsFormatVersion));
  }
  entries.erase(version);
  return entries;
}

Entries module_entries(torch::nn::Module& module, const std::string& prefix = "") {
  Entries entries;
  for (const auto& item : module.named_parameters()) entries[prefix + item.key()] = item.value();
  for (const auto& item : module.named_buffers()) entries[prefix + item.key()] = item.value();
  return entries;
}

std::string shape_text(const torch::Tensor& tensor) {
  std::string text = "[";
  for (int64_t i = 0; i < tensor.dim(); ++i) text += (i ? ", " : "") + std::to_string(tensor.size(i));
  return text + "]";
}

/// Copies `entries` named `prefix` + a tensor's name into the module's tensors.
void load_module(torch::nn::Module& module, const Entries& entries, const std::string& prefix,
                 const std::string& path) {
  std::vector<std::string> problems;
  torch::NoGradGuard no_grad;
  Entries targets = module_entries(module);
  for (auto& [name, target] : targets) {
    auto stored = entries.find(prefix + name);
    if (stored == entries.end()) {
      problems.push_back("missing tensor '" + name + "' (expected shape " + shape_text(target) + ")");
    } else if (stored->second.sizes() != target.sizes()) {
      problems.push_back("tensor '" + name + "' has shape " + shape_text(stored->second) +
                         ", the network expects " + shape_text(target));
    } else {
      target.copy_(stored->second);
    }
  }
  for (const auto& [key, value] : entries) {
    if (key.rfind(prefix, 0) != 0) continue;
    if (targets.count(key.substr(prefix.size())) == 0) {
      problems.push_back("unexpected tensor '" + key.substr(prefix.size()) +
                         "' (the network has no such parameter)");
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

}  // namespace

std::string serialize_weights(torch::nn::Module& module) {
  return serialize(module_entries(module));
}

void save_weights(torch::nn::Module& module, const std::string& path) {
  write_file_atomically(path, serialize_weights(module));
}

void load_weights(torch::nn::Module& module, const std::string& path) {
  load_module(module, read_verified(path, "weights file"), "", path);
}

std::string optimizer_state(torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

void load_optimizer_state(torch::optim::Optimizer& optimizer, const std::string& state) {
  torch::serialize::InputArchive archive;
  archive.load_from(state.data(), state.size());
  optimizer.load(archive);
}

void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const TrainingProgress& progress) {
  Entries entries = module_entries(model, kModelPrefix);
  entries["optimizer"] = bytes_tensor(optimizer_state(optimizer));
  entries["step"] = torch::tensor(progress.step);
  entries["best_score"] = torch::tensor(progress.best_score, torch::kDouble);
  entries["best_step"] = torch::tensor(progress.best_step);
  entries["best_weights"] = bytes_tensor(progress.best_weights);
  entries["rng"] = default_generator().get_state();
  if (progress.world_size != 1) entries["world_size"] = torch::tensor(progress.world_size);
  write_file_atomically(path, serialize(std::move(entries)));
}

TrainingProgress load_checkpoint(const std::string& path, torch::nn::Module& model,
                                 torch::optim::Optimizer& optimizer) {
  Entries entries = read_verified(path, "checkpoint");
  for (const char* key : {"optimizer", "step", "best_score", "best_step", "best_weights", "rng"}) {
    if (entries.count(key) == 0) {
      throw RunError("checkpoint '" + path + "' is incomplete or from another build: no '" + key +
                     "'");
    }
  }
  load_module(model, entries, kModelPrefix, path);
  TrainingProgress progress;
  try {
    load_optimizer_state(optimizer, tensor_bytes(entries.at("optimizer")));
    progress.step = entries.at("step").item<int64_t>();
    progress.best_score = entries.at("best_score").item<double>();
    progress.best_step = entries.at("best_step").item<int64_t>();
    progress.best_weights = tensor_bytes(entries.at("best_weights"));
    if (entries.count("world_size")) progress.world_size = entries.at("world_size").item<int64_t>();
    default_generator().set_state(entries.at("rng"));
  } catch (const c10::Error& error) {
    throw RunError("checkpoint '" + path + "' is incomplete or from another run: " +
                   error.what_without_backtrace());
  }
  return progress;
}

}  // namespace guidance
