// Damaged records are never accepted silently: flipped bits in a compressed activation chunk and
// in strings are named, with the dataset, by the readers, by
// `guidance verify` and by `run --resume`, which never marks such a record completed.
#include "host/recording/RecordVerify.h"

#include <functional>
#include <tuple>

#include "analysis/RecordReader.h"
#include "host/common/Errors.h"
#include "host/recording/RecordFormat.h"
#include "host/recording/RunRecord.h"
#include "tests/host/recording/RecordDamage.h"
#include "tests/host/recording/SyntheticRecord.h"
#include "tests/host/training/RunTestSupport.h"

namespace guidance {
namespace {

using testing::error_of;

namespace schema = record_schema;
using ::testing::HasSubstr;
using testing::CommandResult;
using testing::kChecksumFailure;
using testing::TemporaryDirectory;

std::string damaged(const std::string& path, const std::string& dataset) {
  return path + ": dataset '" + dataset + "' " + kChecksumFailure;
}

// @return the id of the last filter of a dataset's pipeline (-1: none).
H5Z_filter_t last_filter(hid_t file, const std::string& dataset, const std::string& path) {
  hdf5::Handle handle = hdf5::open_dataset(file, dataset, path);
  hdf5::Handle properties =
      hdf5::checked(H5Dget_create_plist(handle.get()), H5Pclose, path + ": " + dataset);
  int filters = H5Pget_nfilters(properties.get());
  if (filters <= 0) return -1;
  unsigned flags = 0;
  size_t values = 0;
  return H5Pget_filter2(properties.get(), static_cast<unsigned>(filters - 1), &flags, &values,
                        nullptr, 0, nullptr, nullptr);
}

// A record of 20 steps with snapshots at 10 and 20, completed with predictions.
void write_record(const std::string& path) {
  RecordLayout layout = testing::synthetic_layout();
  auto record = RunRecord::create(path, testing::synthetic_provenance(), layout);
  record->write_probe(torch::arange(24) * 3, torch::arange(24) % 10);
  std::vector<std::shared_ptr<Metric>> metrics = {std::make_shared<testing::TestLinearCka>()};
  for (int64_t step = 1; step <= 20; ++step) {
    record->append_training(testing::synthetic_training_row(step, layout.pair_names.size()));
    if (step % 10 != 0) continue;
    record->append_evaluation(testing::synthetic_evaluation_row(step));
    testing::SyntheticActivations activations = testing::synthetic_activations(layout, 24, step);
    record->write_snapshot(step, activations.guide, activations.target, metrics);
  }
  FinalResults results;
  results.best_step = 20;
  results.predictions["target"] = {{0, 1, 2, 3}, {1, 1, 0, 2}, {1, 0, 1, 1}, 1};
  results.predictions["guide"] = {};  // no test examples: an empty, contiguous dataset
  record->finish(RecordState::Completed, "2024-01-01T01:00:00Z", results);
}

TEST(RecordVerify, EveryDatasetAndStringCarriesAChecksumAndAnIntactRecordVerifies) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  write_record(path);
  {
    hdf5::Handle file =
        hdf5::checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, path);
    EXPECT_EQ(hdf5::read_integer_attribute(file.get(), "format_version", path), 5);
    // Fletcher-32 comes last, after shuffle and deflate: it covers the bytes as stored.
    for (const std::string& dataset :
         {schema::activation_path("target", "fc1"), schema::activation_path("guide", "conv1"),
          std::string("training/step"), std::string("training/pair_distance"),
          std::string("evaluation/split"), std::string("snapshots/step"),
          schema::similarity_path("linear-cka", "guide_target"), std::string("probe/indices"),
          std::string("probe/labels"), std::string("predictions/target/predicted"),
          std::string("predictions/target/correct")}) {
      EXPECT_EQ(last_filter(file.get(), dataset, path), H5Z_FILTER_FLETCHER32) << dataset;
    }
    EXPECT_EQ(last_filter(file.get(), "predictions/guide/indices", path), -1);
    for (const char* dataset : {"config", "layout/target_taps", "provenance/plugins/library"}) {
      hdf5::Handle handle = hdf5::open_dataset(file.get(), dataset, path);
      EXPECT_GT(H5Aexists(handle.get(), hdf5::kStringsChecksum), 0) << dataset;
    }
    for (const char* group : {"/", "provenance", "snapshots"}) {
      hdf5::Handle handle = hdf5::open_group(file.get(), group, path);
      EXPECT_GT(H5Aexists(handle.get(), hdf5::kStringAttributesChecksum), 0) << group;
    }
  }
  EXPECT_EQ(record_verify::problems(path), std::vector<std::string>{});
  CommandResult verified = testing::run_cli("verify '" + directory.path() + "'");
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_EQ(verified.out, path + ": ok\n");
  EXPECT_EQ(testing::run_cli("verify '" + directory.file("missing") + "'").exit_code, 2);
}

TEST(RecordVerify, DamagedActivationChunkIsNamedAndTheRecordIsNeverCompleted) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  write_record(path);
  std::string dataset = schema::activation_path("target", "fc1");
  testing::flip_bits(path, testing::chunk_middle(path, dataset), 4);
  std::string named = damaged(path, dataset);

  analysis::RecordReader reader(path);
  EXPECT_EQ(error_of([&] { reader.activation("target", "fc1", 0); }), named);
  EXPECT_EQ(reader.activation("target", "fc1", 1).size(0), 24);  // the next snapshot's chunk
  EXPECT_EQ(record_verify::problems(path), std::vector<std::string>{named});
  CommandResult verified = testing::run_cli("verify '" + path + "'");
  EXPECT_EQ(verified.exit_code, 1);
  EXPECT_EQ(verified.out, named + "\n");

  // Resumed from the checkpoint of step 20 and finished again: refused, naming the dataset.
  auto record = RunRecord::resume(path, 20);
  std::string message = error_of([&] { record->finish(RecordState::Completed, "later"); });
  EXPECT_THAT(message, HasSubstr(path + " is damaged, so it is not accepted as completed"));
  EXPECT_THAT(message, HasSubstr(named));
  record.reset();
  EXPECT_EQ(record_format::state_of(path), RecordState::Running);
}

TEST(RecordVerify, DamagedStringsAreNamed) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  write_record(path);
  // `name = "synthetic"` becomes `name = "rynthetic"`: a string HDF5 itself reads back without
  // complaint (a dataset's raw data), caught by its FNV-1a checksum. The host `test-host` becomes
  // `test-iost`: an attribute, inside an object header, which fails HDF5's own metadata checksum.
  testing::flip_bits(path, testing::offset_of(path, "name = \"synthetic\"") + 8);
  testing::flip_bits(path, testing::offset_of(path, "test-host") + 5);
  std::string config = damaged(path, "config");
  auto names_provenance = [&](const std::string& message) {
    EXPECT_THAT(message, HasSubstr(path + ": "));
    EXPECT_THAT(message, HasSubstr("'provenance'"));
    EXPECT_THAT(message, HasSubstr("checksum"));
    EXPECT_THAT(message, ::testing::Not(HasSubstr("missing")));
  };

  analysis::RecordReader reader(path);
  EXPECT_EQ(error_of([&] { reader.config(); }), config);
  names_provenance(error_of([&] { reader.provenance(); }));
  names_provenance(error_of([&] { reader.state(); }));
  std::vector<std::string> problems = record_verify::problems(path);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0], config);
  names_provenance(problems[1]);
  CommandResult verified = testing::run_cli("verify '" + path + "'");
  EXPECT_EQ(verified.exit_code, 1);
  EXPECT_EQ(verified.out, config + "\n" + problems[1] + "\n");
  // Rewriting the state (a resume) would bless the damage: refused.
  names_provenance(error_of([&] { RunRecord::resume(path, 20); }));
}

// A variable-length string type, as format versions 1 to 4 wrote strings.
hdf5::Handle variable_string_type() {
  hdf5::Handle type = hdf5::checked(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

// Rewrites the string attributes of an object, and the object itself when it is a string
// dataset, as variable-length strings (read first through their checksums).
void make_strings_variable_length(hid_t file, const std::string& name, const std::string& path) {
  hdf5::Handle object =
      hdf5::checked(H5Oopen(file, name.c_str(), H5P_DEFAULT), H5Oclose, path + ": " + name);
  hdf5::Handle type = variable_string_type();
  auto write = [&](auto create, auto write_data, const std::vector<std::string>& values,
                   bool scalar) {
    hsize_t size = values.size();
    hdf5::Handle space = hdf5::checked(scalar ? H5Screate(H5S_SCALAR)
                                              : H5Screate_simple(1, &size, nullptr),
                                       H5Sclose, path);
    hdf5::Handle created = create(space.get());
    std::vector<const char*> pointers;
    for (const auto& value : values) pointers.push_back(value.c_str());
    const char* none = "";
    ASSERT_GE(write_data(created.get(), pointers.empty() ? &none : pointers.data()), 0) << name;
  };
  H5O_info_t info;
  ASSERT_GE(H5Oget_info(object.get(), &info), 0);
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    char attribute_name[256];
    H5Aget_name_by_idx(object.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, attribute_name,
                       sizeof(attribute_name), H5P_DEFAULT);
    hdf5::Handle attribute = hdf5::checked(H5Aopen(object.get(), attribute_name, H5P_DEFAULT),
                                           H5Aclose, path);
    hdf5::Handle stored = hdf5::checked(H5Aget_type(attribute.get()), H5Tclose, path);
    if (H5Tget_class(stored.get()) != H5T_STRING) continue;
    hdf5::Handle space = hdf5::checked(H5Aget_space(attribute.get()), H5Sclose, path);
    bool scalar = H5Sget_simple_extent_ndims(space.get()) == 0;
    std::vector<std::string> values =
        scalar ? std::vector<std::string>{hdf5::read_string_attribute(object.get(),
                                                                      attribute_name, path)}
               : hdf5::read_strings_attribute(object.get(), attribute_name, path);
    attribute.close();
    H5Adelete(object.get(), attribute_name);
    write([&](hid_t s) {
            return hdf5::checked(H5Acreate2(object.get(), attribute_name, type.get(), s,
                                            H5P_DEFAULT, H5P_DEFAULT), H5Aclose, path);
          },
          [&](hid_t a, const void* data) { return H5Awrite(a, type.get(), data); }, values,
          scalar);
  }
  if (H5Iget_type(object.get()) != H5I_DATASET) return;
  hdf5::Handle stored = hdf5::checked(H5Dget_type(object.get()), H5Tclose, path);
  hdf5::Handle properties = hdf5::checked(H5Dget_create_plist(object.get()), H5Pclose, path);
  // Tables' string columns (evaluation/split) were fixed-length and chunked in every version.
  if (H5Tget_class(stored.get()) != H5T_STRING ||
      H5Pget_layout(properties.get()) == H5D_CHUNKED) {
    return;
  }
  bool scalar = hdf5::shape_of(object.get()).empty();
  std::vector<std::string> values = hdf5::read_strings_dataset(file, name, path);
  object.close();
  H5Ldelete(file, name.c_str(), H5P_DEFAULT);
  write([&](hid_t s) {
          return hdf5::checked(H5Dcreate2(file, name.c_str(), type.get(), s, H5P_DEFAULT,
                                          H5P_DEFAULT, H5P_DEFAULT), H5Dclose, path);
        },
        [&](hid_t d, const void* data) {
          return H5Dwrite(d, type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
        },
        values, scalar);
}

// Strips what format versions 4 and 5 add to a record: every filter (h5repack), the string
// checksums and fixed-length strings (version 3 wrote them variable-length); sets format_version 3.
void make_version_3(const std::string& from, const std::string& to) {
  CommandResult repacked = testing::run_command("h5repack -L -f NONE '" + from + "' '" + to + "'");
  ASSERT_EQ(repacked.exit_code, 0) << repacked.err;
  hdf5::Handle file =
      hdf5::checked(H5Fopen(to.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, to);
  std::function<void(const std::string&)> strip = [&](const std::string& name) {
    make_strings_variable_length(file.get(), name, to);
    hdf5::Handle object = hdf5::checked(H5Oopen(file.get(), name.c_str(), H5P_DEFAULT),
                                        H5Oclose, to + ": " + name);
    for (const char* checksum : {hdf5::kStringsChecksum, hdf5::kStringAttributesChecksum}) {
      if (H5Aexists(object.get(), checksum) > 0) H5Adelete(object.get(), checksum);
    }
    if (H5Iget_type(object.get()) != H5I_GROUP) return;
    for (const auto& member : hdf5::member_names(object.get())) {
      strip(name == "/" ? member : name + "/" + member);
    }
  };
  strip("/");
  hdf5::write_integer_attribute(file.get(), "format_version", 3);
}

TEST(RecordVerify, RecordsOfVersion3WithoutChecksumsStillReadAndResume) {
  TemporaryDirectory directory;
  std::string current = directory.file("current.h5");
  std::string old = directory.file("run.h5");
  write_record(current);
  make_version_3(current, old);
  {
    hdf5::Handle file =
        hdf5::checked(H5Fopen(old.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, old);
    ASSERT_EQ(last_filter(file.get(), schema::activation_path("target", "fc1"), old), -1);
    hdf5::Handle config = hdf5::open_dataset(file.get(), "config", old);
    ASSERT_EQ(H5Aexists(config.get(), hdf5::kStringsChecksum), 0);
    hdf5::Handle type = hdf5::checked(H5Dget_type(config.get()), H5Tclose, old);
    ASSERT_GT(H5Tis_variable_str(type.get()), 0);
  }
  analysis::RecordReader reader(old), expected(current);
  EXPECT_EQ(reader.config(), expected.config());
  EXPECT_EQ(reader.provenance(), expected.provenance());
  EXPECT_TRUE(torch::equal(reader.activation("target", "fc1", 1),
                           expected.activation("target", "fc1", 1)));
  EXPECT_EQ(reader.predictions("target").predicted, expected.predictions("target").predicted);
  EXPECT_EQ(record_verify::problems(old), std::vector<std::string>{});

  auto record = RunRecord::resume(old, 20);
  record->finish(RecordState::Completed, "later");
  record.reset();
  EXPECT_EQ(record_format::state_of(old), RecordState::Completed);
  hdf5::Handle file =
      hdf5::checked(H5Fopen(old.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, old);
  EXPECT_EQ(hdf5::read_integer_attribute(file.get(), "format_version", old), 3);
}

// Through the binary: a completed run, and one killed before its final rows, each with a damaged
// activation chunk; `--resume` exits 1 naming the dataset instead of reporting them completed.
TEST(RecordVerify, RunResumeNamesTheDamageInsteadOfCompleting) {
  TemporaryDirectory directory;
  auto damaged_run = [&](const std::string& name, const std::string& environment) {
    std::string config = directory.file(name + ".toml");
    testing::write_file(config, testing::parity_config(directory.file(name), "untrained", 20));
    testing::run_command(environment + " '" + testing::cli_path() + "' run --quiet '" + config +
                         "'");
    std::string path = directory.file(name) + "/parity-small/run.h5";
    std::string tap = analysis::RecordReader(path).layout().target_taps.front();
    std::string dataset = schema::activation_path("target", tap);
    testing::flip_bits(path, testing::chunk_middle(path, dataset), 4);
    return std::make_tuple(config, path, dataset);
  };

  auto [config, path, dataset] = damaged_run("completed", "");
  ASSERT_EQ(record_format::state_of(path), RecordState::Completed);
  std::string named = "dataset '" + dataset + "' " + kChecksumFailure;
  CommandResult resumed = testing::run_cli("run --quiet '" + config + "' --resume");
  EXPECT_EQ(resumed.exit_code, 1);
  EXPECT_THAT(resumed.err, HasSubstr("parity-small/run.h5: " + named));
  CommandResult verified = testing::run_cli("verify '" + directory.file("completed") + "'");
  EXPECT_EQ(verified.exit_code, 1);
  EXPECT_EQ(verified.out, path + ": " + named + "\n");

  auto [killed_config, killed, killed_dataset] = damaged_run("killed", "GUIDANCE_KILL_AT=finish");
  ASSERT_EQ(record_format::state_of(killed), RecordState::Running);
  resumed = testing::run_cli("run --quiet '" + killed_config + "' --resume");
  EXPECT_EQ(resumed.exit_code, 1);
  EXPECT_THAT(resumed.err, HasSubstr("dataset '" + killed_dataset + "' " + kChecksumFailure));
  EXPECT_EQ(record_format::state_of(killed), RecordState::Failed);
}

}  // namespace
}  // namespace guidance
