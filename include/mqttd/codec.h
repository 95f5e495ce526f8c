// The MQTT codec in one include: packet structs, properties, reason codes, the stream
// framer, decoders and encoders, UTF-8 / topic validation. See each header for its
// contract; all of it is safe from any thread except FrameReader (one per connection).
#pragma once

#include "mqttd/decode.h"
#include "mqttd/encode.h"
#include "mqttd/frame_reader.h"
#include "mqttd/packets.h"
#include "mqttd/properties.h"
#include "mqttd/reason_code.h"
#include "mqttd/topic.h"
#include "mqttd/types.h"
#include "mqttd/varint.h"
