// Metrics: the Prometheus text exposition of the broker's counters (/metrics), and the
// HTTP responder that serves it with /healthz and /readyz. Rendering reads the workers'
// single-writer counters (relaxed atomics) and /proc/self; it runs on the worker that
// serves HTTP and takes no lock on any data path.
#pragma once

#include <string>

#include "http/http_server.h"

namespace mqttd {

class Engine;
class Broker;

// The exposition text (format 0.0.4): mqttd_* metrics and the process_* ones.
std::string render_metrics(Engine& engine, const Broker& broker);

// Answers /metrics, /healthz (alive: 200) and /readyz (200 when every worker accepts
// and no shutdown has begun, 503 otherwise); 404 for anything else.
HttpServer::Responder make_http_responder(Engine& engine, const Broker& broker);

}  // namespace mqttd
