#include "histogram.h"

#include <bit>

namespace mqttd::bench {

int bucket_of(uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<int>(value);
  const int msb = 63 - std::countl_zero(value);
  if (msb >= kMaxValueBits) return kBucketCount - 1;
  const int shift = msb - kSubBucketBits;
  return (shift + 1) * kSubBuckets + static_cast<int>((value >> shift) - kSubBuckets);
}

uint64_t bucket_low(int bucket) {
  if (bucket < 2 * kSubBuckets) return static_cast<uint64_t>(bucket);
  const int shift = bucket / kSubBuckets - 1;
  return static_cast<uint64_t>(bucket % kSubBuckets + kSubBuckets) << shift;
}

uint64_t bucket_mid(int bucket) {
  if (bucket < 2 * kSubBuckets) return static_cast<uint64_t>(bucket);
  const int shift = bucket / kSubBuckets - 1;
  return bucket_low(bucket) + ((uint64_t{1} << shift) >> 1);
}

void Histogram::merge(const Histogram& other) {
  for (int i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  if (other.max_ > max_) max_ = other.max_;
}

uint64_t Histogram::quantile(double q) const {
  if (total_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_));
  if (rank >= total_) rank = total_ - 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen > rank) {
      const uint64_t v = bucket_mid(i);
      return v > max_ && max_ != 0 ? max_ : v;
    }
  }
  return max_;
}

void AtomicHistogram::snapshot_into(Histogram& out) const {
  for (int i = 0; i < kBucketCount; ++i) {
    const uint64_t n = counts_[i].load(std::memory_order_relaxed);
    if (n) out.add_bucket(i, n);
  }
  out.set_max(max_.load(std::memory_order_relaxed));
}

void AtomicHistogram::counts(std::array<uint64_t, kBucketCount>& out) const {
  for (int i = 0; i < kBucketCount; ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
}

}  // namespace mqttd::bench
