// UTF-8 and topic validation as MQTT defines them (MQTT 1.5.4, 4.7). Pure functions; safe
// from any thread. The decoders already apply these to every string they return.
#pragma once

#include <string_view>

#include "mqttd/reason_code.h"

namespace mqttd {

// Well-formed UTF-8 (no overlongs, no surrogates U+D800..U+DFFF, nothing above
// U+10FFFF) without U+0000 (MQTT-1.5.4-1, -2). Also used for payloads that declare
// Payload Format Indicator 1.
bool valid_utf8(std::string_view s);

// A Topic Name (PUBLISH, will, response topic): non-empty, no '+' or '#'
// (MQTT-4.7.3-1, 3.3.2-2). Does not check UTF-8.
bool valid_topic_name(std::string_view topic);

// Both checks of a received Topic Name in one pass (the decoders' hot path):
// malformed_packet when it is not valid UTF-8 (valid_utf8), else topic_name_invalid when
// it is empty or has a wildcard, else success.
ReasonCode check_topic_name(std::string_view topic);

// A Topic Filter: non-empty; '#' only as the last level and alone in it; '+' alone in
// its level (MQTT-4.7.1-1..3). "$share/<name>/<filter>" additionally needs a non-empty
// share name without '+', '#' or '/' and a valid non-empty filter (MQTT 5 4.8.2).
// Does not check UTF-8.
bool valid_topic_filter(std::string_view filter);

}  // namespace mqttd
