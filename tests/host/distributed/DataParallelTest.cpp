#include "host/distributed/DataParallel.h"

#include <mutex>

#include <torch/nn/modules/linear.h>

#include "tests/host/distributed/DistributedTestSupport.h"

namespace guidance {
namespace {

// A loss that couples the examples of a batch, as CKA does: per-rank losses would differ from it.
torch::Tensor batch_statistic(const torch::Tensor& features) {
  torch::Tensor centred = features - features.mean(0, true);
  torch::Tensor gram = centred.t().mm(centred);
  return gram.square().sum().sqrt() / features.size(0) + features.square().mean();
}

TEST(DataParallel, GatheredTapsAndAveragedGradientsEqualOneProcessOnTheWholeBatch) {
  torch::manual_seed(3);
  torch::Tensor inputs = torch::randn({8, 5}, torch::kDouble);
  torch::Tensor first = torch::randn({5, 4}, torch::kDouble).requires_grad_();
  torch::Tensor second = torch::randn({4, 3}, torch::kDouble).requires_grad_();
  batch_statistic(inputs.mm(first).tanh().mm(second)).backward();

  std::mutex lock;
  std::vector<std::vector<torch::Tensor>> rank_gradients(2);
  testing::run_ranks(2, [&](Collective& collective) {
    torch::Tensor a = first.detach().clone().requires_grad_();
    torch::Tensor b = second.detach().clone().requires_grad_();
    torch::Tensor share = local_share(collective, torch::arange(8, torch::kLong));
    torch::Tensor hidden = inputs.index_select(0, share).mm(a).tanh();
    // The loss sees the whole batch's hidden tap; the second layer runs on the gathered tap.
    batch_statistic(gather_with_gradient(collective, hidden).mm(b)).backward();
    // b sees the gathered tap, so its gradient is already the whole one on every rank (and the
    // average keeps it); a's is its share's, times 2. 16-byte buckets: one bucket per gradient.
    average_gradients(collective, {a, b}, 16);
    std::lock_guard<std::mutex> guard(lock);
    rank_gradients[collective.rank()] = {a.grad(), b.grad()};
  });
  for (const auto& gradients : rank_gradients) {
    EXPECT_TRUE(testing::tensors_close(gradients[0], first.grad(), 1e-12, 1e-12));
    EXPECT_TRUE(testing::tensors_close(gradients[1], second.grad(), 1e-12, 1e-12));
  }
}

TEST(DataParallel, GatherPadsTrailingDimensionsAndKeepsBooleans) {
  std::mutex lock;
  std::vector<torch::Tensor> gathered(2), masks(2);
  testing::run_ranks(2, [&](Collective& collective) {
    const int64_t length = collective.rank() == 0 ? 2 : 3;
    torch::Tensor tap = torch::full({1, length}, collective.rank() + 1.0);
    torch::Tensor mask = torch::ones({1, length}, torch::kBool);
    torch::Tensor all = gather_with_gradient(collective, tap);
    torch::Tensor all_masks = gather_with_gradient(collective, mask);
    std::lock_guard<std::mutex> guard(lock);
    gathered[collective.rank()] = all;
    masks[collective.rank()] = all_masks;
  });
  torch::Tensor expected = torch::tensor({{1.0f, 1.0f, 0.0f}, {2.0f, 2.0f, 2.0f}});
  torch::Tensor expected_mask = torch::tensor({{true, true, false}, {true, true, true}});
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_TRUE(testing::tensors_close(gathered[rank], expected));
    EXPECT_EQ(masks[rank].scalar_type(), torch::kBool);
    EXPECT_TRUE(masks[rank].equal(expected_mask));
  }
}

TEST(DataParallel, EveryRankTakesRankZerosWeightsBytesAndSums) {
  std::mutex lock;
  std::vector<torch::Tensor> weights(2);
  std::vector<std::string> texts(2);
  std::vector<std::vector<double>> sums(2);
  std::vector<bool> any(2);
  testing::run_ranks(2, [&](Collective& collective) {
    torch::nn::Linear linear(3, 2);
    {
      // Different weights on each rank before (not seeded: the ranks share one global generator).
      torch::NoGradGuard no_grad;
      linear->weight.copy_(torch::arange(6.0).reshape({2, 3}) * (collective.rank() + 1));
      linear->bias.fill_(collective.rank() + 1.0);
    }
    broadcast_module(collective, *linear, "test broadcast");
    std::string text = collective.rank() == 0 ? std::string("rank zero's bytes\0!", 19) : "x";
    broadcast_bytes(collective, text, "test bytes");
    std::vector<double> summed =
        sum_over_ranks(collective, {1.0, collective.rank() * 10.0}, "test sum");
    bool flagged = any_rank(collective, collective.rank() == 1, "test flag");
    std::lock_guard<std::mutex> guard(lock);
    weights[collective.rank()] = torch::cat({linear->weight.reshape({-1}), linear->bias});
    texts[collective.rank()] = text;
    sums[collective.rank()] = summed;
    any[collective.rank()] = flagged;
  });
  torch::Tensor expected = torch::cat({torch::arange(6.0), torch::ones({2})});
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_TRUE(weights[rank].detach().equal(expected));
    EXPECT_EQ(texts[rank], std::string("rank zero's bytes\0!", 19));
    EXPECT_EQ(sums[rank], (std::vector<double>{2.0, 10.0}));
    EXPECT_TRUE(any[rank]);
  }
}

}  // namespace
}  // namespace guidance
