// Latency histogram with HDR-style log-linear buckets: exact below 64 ns, then 32 buckets
// per power of two (relative error under 3.2%), up to 2^40 ns (about 18 minutes).
// Histogram: owned by one thread. AtomicHistogram: one writer thread, any number of readers
// taking snapshots (relaxed loads and stores, no read-modify-write on the hot path).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace mqttd::bench {

inline constexpr int kSubBucketBits = 5;
inline constexpr int kSubBuckets = 1 << kSubBucketBits;
inline constexpr int kMaxValueBits = 40;
inline constexpr int kBucketCount =
    (kMaxValueBits - kSubBucketBits + 1) * kSubBuckets + 2 * kSubBuckets;

// Bucket of a value (in ns); values above the range land in the last bucket.
int bucket_of(uint64_t value);
// Smallest value that lands in `bucket`.
uint64_t bucket_low(int bucket);
// Representative value of `bucket` (its middle), used for percentiles.
uint64_t bucket_mid(int bucket);

class Histogram {
 public:
  void record(uint64_t value) {
    ++counts_[bucket_of(value)];
    ++total_;
    sum_ += value;
    if (value > max_) max_ = value;
  }
  void merge(const Histogram& other);
  void clear() { *this = Histogram{}; }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  double mean() const {
    return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0;
  }
  // Value at quantile q in [0, 1]; 0 when empty.
  uint64_t quantile(double q) const;

  // Adds counts[i] to bucket i (for snapshots of an AtomicHistogram).
  void add_bucket(int bucket, uint64_t n) {
    counts_[bucket] += n;
    total_ += n;
    sum_ += n * bucket_mid(bucket);
  }
  void set_max(uint64_t m) {
    if (m > max_) max_ = m;
  }

 private:
  std::array<uint64_t, kBucketCount> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

class AtomicHistogram {
 public:
  // Called only by the owning thread.
  void record(uint64_t value) {
    auto& c = counts_[bucket_of(value)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (value > max_.load(std::memory_order_relaxed)) max_.store(value, std::memory_order_relaxed);
  }
  // Any thread: adds the current counts to `out` (not a consistent cut, good enough for
  // once-a-second progress and exact once the writer has stopped).
  void snapshot_into(Histogram& out) const;
  // Any thread: the raw counts, to diff two snapshots.
  void counts(std::array<uint64_t, kBucketCount>& out) const;

 private:
  std::array<std::atomic<uint64_t>, kBucketCount> counts_{};
  std::atomic<uint64_t> max_{0};
};

}  // namespace mqttd::bench
