#include "host/distributed/Launch.h"

#include <map>

#include "host/common/Errors.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using ::testing::HasSubstr;

std::optional<Launch> launch_of(const std::map<std::string, std::string>& variables) {
  return launch_from_environment([&](const char* name) -> const char* {
    auto found = variables.find(name);
    return found == variables.end() ? nullptr : found->second.c_str();
  });
}

std::string refusal(const std::map<std::string, std::string>& variables) {
  try {
    launch_of(variables);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "(accepted)";
}

TEST(Launch, OneProcessWithoutLauncherVariables) {
  EXPECT_FALSE(launch_of({}).has_value());
  EXPECT_FALSE(launch_of({{"WORLD_SIZE", "1"}, {"RANK", "0"}}).has_value());
  EXPECT_FALSE(launch_of({{"SLURM_NTASKS", "1"}, {"SLURM_PROCID", "0"}}).has_value());
}

TEST(Launch, ReadsTorchrunVariables) {
  std::optional<Launch> launch = launch_of({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"},
                                            {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "1234"}});
  ASSERT_TRUE(launch.has_value());
  EXPECT_EQ(launch->world_size, 4);
  EXPECT_EQ(launch->rank, 3);
  EXPECT_EQ(launch->local_rank, 1);
  EXPECT_EQ(launch->endpoint(), "10.0.0.7:1234");
  EXPECT_EQ(launch->source, "torchrun");
  EXPECT_FALSE(launch->agent_store);
  // Under torchrun's agent, every rank is a client of the agent's store, keyed by attempt.
  launch = launch_of({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "a"},
                      {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                      {"TORCHELASTIC_RESTART_COUNT", "3"}});
  EXPECT_TRUE(launch->agent_store);
  EXPECT_EQ(launch->store_prefix, "guidance/3");
  // torchrun's variables win over Slurm's, as inside an sbatch job that runs torchrun.
  launch = launch_of({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "a"},
                      {"SLURM_NTASKS", "8"}, {"SLURM_PROCID", "5"}});
  EXPECT_EQ(launch->world_size, 2);
  EXPECT_EQ(launch->port, kDefaultRendezvousPort);
}

TEST(Launch, ReadsSlurmVariablesAndTheFirstNode) {
  std::optional<Launch> launch =
      launch_of({{"SLURM_NTASKS", "8"}, {"SLURM_PROCID", "5"}, {"SLURM_LOCALID", "1"},
                 {"SLURM_JOB_NODELIST", "gpu[07-10,12],login1"}, {"MASTER_PORT", "29600"}});
  ASSERT_TRUE(launch.has_value());
  EXPECT_EQ(launch->rank, 5);
  EXPECT_EQ(launch->local_rank, 1);
  EXPECT_EQ(launch->endpoint(), "gpu07:29600");
  EXPECT_EQ(launch->source, "slurm");
  EXPECT_EQ(first_slurm_host("node1,node2"), "node1");
  EXPECT_EQ(first_slurm_host("rack[3-4]-n[1-2]"), "rack3-n[1-2]");
  EXPECT_EQ(first_slurm_host("c[5]"), "c5");
}

TEST(Launch, RefusesIncompleteOrBadVariablesNamingThem) {
  EXPECT_THAT(refusal({{"WORLD_SIZE", "2"}, {"RANK", "0"}}), HasSubstr("MASTER_ADDR"));
  EXPECT_THAT(refusal({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}), HasSubstr("no RANK"));
  EXPECT_THAT(refusal({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}}),
              HasSubstr("RANK='2' is not an integer in 0..1"));
  EXPECT_THAT(refusal({{"WORLD_SIZE", "two"}}), HasSubstr("WORLD_SIZE='two'"));
  EXPECT_THAT(refusal({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "h"},
                       {"MASTER_PORT", "70000"}}),
              HasSubstr("MASTER_PORT='70000'"));
  EXPECT_THAT(refusal({{"SLURM_NTASKS", "2"}, {"SLURM_PROCID", "1"}}),
              HasSubstr("SLURM_JOB_NODELIST"));
}

}  // namespace
}  // namespace guidance
