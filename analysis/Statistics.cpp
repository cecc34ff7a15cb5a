#include "analysis/Statistics.h"

#include <cmath>
#include <stdexcept>

namespace guidance::analysis {

namespace {

// Continued fraction of I_x(a, b) (Numerical Recipes' betacf, modified Lentz); converges fast
// for x < (a + 1) / (a + b + 2), which the caller ensures by symmetry.
double beta_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEpsilon = 1e-15;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return h;
}

}  // namespace

double mean(const std::vector<double>& values) {
  if (values.empty()) return kNaN;
  double sum = 0;
  for (double value : values) sum += value;
  return sum / static_cast<double>(values.size());
}

double sample_std(const std::vector<double>& values) {
  if (values.size() < 2) return kNaN;
  const double centre = mean(values);
  double squares = 0;
  for (double value : values) squares += (value - centre) * (value - centre);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return kNaN;
  if (x == 0 || x == 1) return x;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_fraction(a, b, x) / a;
  return 1.0 - front * beta_fraction(b, a, 1.0 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (!(df > 0) || std::isnan(t)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  // For large |t| the tail I_{df/(df+t²)} keeps its precision where 1 − cdf would not.
  const double tail = 0.5 * incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
  return t >= 0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double df) {
  if (!(p > 0) || !(p < 1) || !(df > 0)) return kNaN;
  if (p == 0.5) return 0.0;
  const bool upper = p > 0.5;
  const double q = upper ? p : 1.0 - p;  // find t > 0 with cdf(t) = q, then mirror
  double low = 0.0, high = 1.0;
  while (student_t_cdf(high, df) < q) {
    low = high;
    high *= 2.0;
    if (high > 1e300) break;
  }
  for (int i = 0; i < 200 && high - low > 1e-13 * std::max(1.0, high); ++i) {
    const double middle = 0.5 * (low + high);
    if (student_t_cdf(middle, df) < q) {
      low = middle;
    } else {
      high = middle;
    }
  }
  const double t = 0.5 * (low + high);
  return upper ? t : -t;
}

WelchInterval welch_interval(const std::vector<double>& a, const std::vector<double>& b,
                             double level) {
  WelchInterval interval;
  interval.difference = mean(a) - mean(b);
  if (a.size() < 2 || b.size() < 2) {
    interval.std_error = interval.df = interval.low = interval.high = kNaN;
    return interval;
  }
  const double va = std::pow(sample_std(a), 2) / static_cast<double>(a.size());
  const double vb = std::pow(sample_std(b), 2) / static_cast<double>(b.size());
  interval.std_error = std::sqrt(va + vb);
  if (interval.std_error == 0) {
    interval.df = kNaN;
    interval.low = interval.high = interval.difference;
    return interval;
  }
  interval.df =
      (va + vb) * (va + vb) /
      (va * va / static_cast<double>(a.size() - 1) + vb * vb / static_cast<double>(b.size() - 1));
  const double t = student_t_quantile(0.5 * (1.0 + level), interval.df);
  interval.low = interval.difference - t * interval.std_error;
  interval.high = interval.difference + t * interval.std_error;
  return interval;
}

Kappa cohens_kappa(const std::vector<int8_t>& first, const std::vector<int8_t>& second) {
  if (first.size() != second.size()) {
    throw std::invalid_argument("cohens_kappa: " + std::to_string(first.size()) + " and " +
                                std::to_string(second.size()) + " outcomes");
  }
  Kappa result;
  int64_t agree = 0, right1 = 0, right2 = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    if (first[i] < 0 || second[i] < 0) continue;
    ++result.count;
    const bool a = first[i] > 0, b = second[i] > 0;
    agree += a == b;
    right1 += a;
    right2 += b;
  }
  if (result.count == 0) {
    result.kappa = result.observed = result.expected = result.p1 = result.p2 = kNaN;
    return result;
  }
  const double n = static_cast<double>(result.count);
  result.observed = static_cast<double>(agree) / n;
  result.p1 = static_cast<double>(right1) / n;
  result.p2 = static_cast<double>(right2) / n;
  result.expected = result.p1 * result.p2 + (1.0 - result.p1) * (1.0 - result.p2);
  result.kappa =
      result.expected >= 1.0 ? kNaN : (result.observed - result.expected) / (1.0 - result.expected);
  return result;
}

}  // namespace guidance::analysis
