#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace guidance::analysis {

/// The value every statistic takes when it is undefined (too few values, a zero spread).
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// @return the arithmetic mean (NaN for no values).
double mean(const std::vector<double>& values);

/// @return the sample standard deviation, with n − 1 in the denominator (NaN for fewer than two
/// values).
double sample_std(const std::vector<double>& values);

/// @return the regularized incomplete beta function I_x(a, b) for a, b > 0 and x in [0, 1],
/// evaluated by its continued fraction (modified Lentz), to about 1e-14 relative accuracy.
double incomplete_beta(double a, double b, double x);

/// @return P(T ≤ t) for Student's t distribution with `df` > 0 degrees of freedom (df need not be
/// an integer): 1 − ½ I_{df/(df+t²)}(df/2, ½) for t ≥ 0, by symmetry below.
double student_t_cdf(double t, double df);

/// @return the p-quantile of Student's t with `df` > 0 degrees of freedom, p in (0, 1): the t
/// with student_t_cdf(t, df) = p, found by bracketing and bisection on the cdf (to ~1e-12).
/// For df = ∞ pass a large df (the normal quantile is the limit).
double student_t_quantile(double p, double df);

/// The difference of two means with a Welch confidence interval.
struct WelchInterval {
  double difference = 0;  ///< mean(a) − mean(b)
  double std_error = 0;   ///< sqrt(s_a²/n_a + s_b²/n_b)
  double df = 0;          ///< Welch–Satterthwaite degrees of freedom (NaN when std_error = 0)
  double low = 0;         ///< difference − t_{(1+level)/2, df} · std_error
  double high = 0;        ///< difference + t_{(1+level)/2, df} · std_error
};

/// @return mean(a) − mean(b) with its `level` (e.g. 0.95) Welch interval:
/// df = (v_a + v_b)² / (v_a²/(n_a − 1) + v_b²/(n_b − 1)), v = s²/n, s the sample std.
/// Both samples need at least two values, else every field but `difference` is NaN (and
/// difference too when a sample is empty). When both samples have zero spread the interval is
/// the difference itself.
WelchInterval welch_interval(const std::vector<double>& a, const std::vector<double>& b,
                             double level = 0.95);

/// Cohen's κ of two binary outcome vectors (e.g. per-example correctness of two classifiers,
/// Geirhos et al. 2020 "error consistency"): κ = (c_obs − c_exp) / (1 − c_exp), with c_obs the
/// fraction of positions where they agree and c_exp = p₁p₂ + (1 − p₁)(1 − p₂), p the fraction of
/// 1s. Positions where either value is negative (padding) are left out.
struct Kappa {
  double kappa = 0;     ///< NaN when c_exp = 1 (both constant and equal) or nothing is compared
  double observed = 0;  ///< c_obs
  double expected = 0;  ///< c_exp
  double p1 = 0;        ///< accuracy of the first
  double p2 = 0;        ///< accuracy of the second
  int64_t count = 0;    ///< positions compared
};

/// @param first, second equal-length vectors of 1 (correct), 0 (wrong) or −1 (not scored)
/// @throws std::invalid_argument when the lengths differ
Kappa cohens_kappa(const std::vector<int8_t>& first, const std::vector<int8_t>& second);

}  // namespace guidance::analysis
