// The results of one run: the live progress line (once a second, stderr), the final
// summary as a human table and as JSON. Main thread only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "cli.h"
#include "histogram.h"

namespace mqttd::bench {

// Totals over all rings at one moment.
struct Totals {
  uint64_t connecting = 0, connected = 0, ready = 0, connects = 0, connect_errors = 0;
  uint64_t disconnects = 0, protocol_errors = 0, pub_sent = 0, pub_acked = 0, pubs_done = 0;
  uint64_t expected_in = 0, msgs_in = 0, unique_in = 0, duplicates = 0, reordered = 0;
  uint64_t foreign_in = 0, bytes_in = 0, bytes_out = 0, pings = 0;
  uint64_t errors() const { return connect_errors + disconnects + protocol_errors; }
};

struct ProgressSample {
  double elapsed_s = 0;
  const char* phase = "";
  Totals now;
  double out_rate = 0, in_rate = 0;  // messages per second over the last interval
  Histogram latency;                 // the last interval's latencies
  double cpu_percent = 0;            // this process, percent of one core
};

void print_progress(const BenchConfig& cfg, const ProgressSample& s, FILE* out);

struct Summary {
  const BenchConfig* cfg = nullptr;
  uint32_t rings = 0;
  Totals totals;
  double connect_s = 0;  // from start until every client was ready (or gave up)
  double run_s = 0;      // publishing window (conn: holding)
  double drain_s = 0;
  uint64_t sent_in_run = 0;  // publishes queued during the run window
  uint64_t received_in_run = 0;
  double out_rate = 0, in_rate = 0;  // per second over the run window
  Histogram latency;
  bool loss_exact = false;  // expected deliveries known (pubsub with fixed topics)
  uint64_t expected = 0;
  int64_t lost = 0;
  uint64_t streams = 0;
  double cpu_s = 0;          // this process, over the run window
  double cpu_percent = 0;    // of one core, over the run window
  double total_cpu_s = 0;    // this process, whole run
  uint64_t max_rss_kib = 0;  // this process
  std::string first_error;
};

void print_table(const Summary& s, FILE* out);
// Returns false when the file cannot be written.
bool write_json(const Summary& s, const std::string& path);

}  // namespace mqttd::bench
