#include <gtest/gtest.h>

#include <cmath>

#include "analysis/Statistics.h"

namespace guidance::analysis {
namespace {

TEST(Statistics, MeanAndSampleStd) {
  EXPECT_DOUBLE_EQ(mean({1, 2, 3, 4}), 2.5);
  // Σ(x − 2.5)² = 5, over n − 1 = 3.
  EXPECT_NEAR(sample_std({1, 2, 3, 4}), std::sqrt(5.0 / 3.0), 1e-15);
  EXPECT_TRUE(std::isnan(sample_std({1})));
  EXPECT_TRUE(std::isnan(mean({})));
}

TEST(Statistics, IncompleteBetaMatchesClosedForms) {
  // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b; I_x(a, b) = 1 − I_{1−x}(b, a).
  EXPECT_NEAR(incomplete_beta(1, 1, 0.3), 0.3, 1e-14);
  EXPECT_NEAR(incomplete_beta(2.5, 1, 0.4), std::pow(0.4, 2.5), 1e-14);
  EXPECT_NEAR(incomplete_beta(1, 3, 0.2), 1 - std::pow(0.8, 3), 1e-14);
  EXPECT_NEAR(incomplete_beta(2, 5, 0.7), 1 - incomplete_beta(5, 2, 0.3), 1e-14);
  // I_{1/2}(a, a) = 1/2 by symmetry.
  EXPECT_NEAR(incomplete_beta(7.3, 7.3, 0.5), 0.5, 1e-13);
}

TEST(Statistics, StudentTQuantileMatchesTablesAndClosedForms) {
  // Two-sided 95 % critical values from standard t tables.
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706204736, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.302652730, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 3), 3.182446305, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776445105, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 5), 2.570581836, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.228138852, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.042272456, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.995, 10), 3.169272673, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.95, 20), 1.724718243, 1e-8);
  // Large df tends to the normal quantile 1.959963985.
  EXPECT_NEAR(student_t_quantile(0.975, 1e7), 1.959963985, 1e-5);
  // Closed forms: df = 1 is Cauchy, t = tan(π(p − ½)); df = 2: t = (2p − 1) / sqrt(2p(1 − p)).
  for (double p : {0.6, 0.9, 0.99}) {
    EXPECT_NEAR(student_t_quantile(p, 1), std::tan(M_PI * (p - 0.5)),
                1e-9 * (1 + std::tan(M_PI * (p - 0.5))));
    EXPECT_NEAR(student_t_quantile(p, 2), (2 * p - 1) / std::sqrt(2 * p * (1 - p)), 1e-9);
  }
  // Symmetry, and the quantile inverts the cdf at fractional df (Welch's df are fractional).
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.776445105, 1e-8);
  for (double df : {1.47, 2.5, 7.25}) {
    for (double p : {0.05, 0.5, 0.8, 0.975}) {
      EXPECT_NEAR(student_t_cdf(student_t_quantile(p, df), df), p, 1e-11) << df << " " << p;
    }
  }
  EXPECT_TRUE(std::isnan(student_t_quantile(1.0, 3)));
}

TEST(Statistics, WelchIntervalByHand) {
  // Equal n and variances: df = 2(n − 1) = 4, se = sqrt(1/3 + 1/3).
  WelchInterval equal = welch_interval({4, 5, 6}, {1, 2, 3});
  EXPECT_DOUBLE_EQ(equal.difference, 3.0);
  EXPECT_NEAR(equal.std_error, std::sqrt(2.0 / 3.0), 1e-15);
  EXPECT_NEAR(equal.df, 4.0, 1e-12);
  EXPECT_NEAR(equal.low, 3.0 - 2.776445105 * std::sqrt(2.0 / 3.0), 1e-8);
  EXPECT_NEAR(equal.high, 3.0 + 2.776445105 * std::sqrt(2.0 / 3.0), 1e-8);
  // Unequal: v_a = 1/3 (var 1, n 3), v_b = (20/3)/4 = 5/3 (var 20/3, n 4);
  // df = (1/3 + 5/3)² / ((1/3)²/2 + (5/3)²/3) = 4 / (1/18 + 25/27) = 216/53.
  WelchInterval unequal = welch_interval({1, 2, 3}, {2, 4, 6, 8});
  EXPECT_DOUBLE_EQ(unequal.difference, -3.0);
  EXPECT_NEAR(unequal.std_error, std::sqrt(2.0), 1e-14);
  EXPECT_NEAR(unequal.df, 216.0 / 53.0, 1e-12);
  double t = student_t_quantile(0.975, 216.0 / 53.0);
  EXPECT_GT(t, 2.570581836);  // between the df = 5 and df = 4 values
  EXPECT_LT(t, 2.776445105);
  EXPECT_NEAR(unequal.high, -3.0 + t * std::sqrt(2.0), 1e-12);
  // Fewer than two values: no interval, but the difference.
  WelchInterval single = welch_interval({1}, {2, 3});
  EXPECT_DOUBLE_EQ(single.difference, -1.5);
  EXPECT_TRUE(std::isnan(single.low));
}

TEST(Statistics, CohensKappaByHand) {
  // p1 = 7/10, p2 = 6/10, agreement 7/10; c_exp = .42 + .12 = .54; κ = .16 / .46.
  std::vector<int8_t> a = {1, 1, 1, 0, 0, 1, 0, 1, 1, 1};
  std::vector<int8_t> b = {1, 1, 0, 0, 1, 1, 0, 1, 1, 0};
  Kappa kappa = cohens_kappa(a, b);
  EXPECT_EQ(kappa.count, 10);
  EXPECT_NEAR(kappa.observed, 0.7, 1e-15);
  EXPECT_NEAR(kappa.expected, 0.54, 1e-15);
  EXPECT_NEAR(kappa.kappa, 0.16 / 0.46, 1e-14);
  // Identical outcomes: κ = 1; opposite outcomes at accuracy 1/2: κ = −1.
  EXPECT_NEAR(cohens_kappa(a, a).kappa, 1.0, 1e-15);
  EXPECT_NEAR(cohens_kappa({1, 0, 1, 0}, {0, 1, 0, 1}).kappa, -1.0, 1e-15);
  // Padding (−1 in either) is left out: only positions 0, 2, 3 count here.
  Kappa padded = cohens_kappa({1, -1, 0, 1}, {1, 1, 1, -1});
  EXPECT_EQ(padded.count, 2);
  EXPECT_NEAR(padded.observed, 0.5, 1e-15);
  // Both always right: c_exp = 1, κ undefined.
  EXPECT_TRUE(std::isnan(cohens_kappa({1, 1}, {1, 1}).kappa));
  EXPECT_THROW(cohens_kappa({1}, {1, 0}), std::invalid_argument);
}

}  // namespace
}  // namespace guidance::analysis
