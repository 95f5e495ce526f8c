// Decoders: one function per packet type turning a Frame (from FrameReader) into its
// struct, with strict validation of every rule one packet lets a receiver check. Pure
// functions; safe from any thread. They never throw and never read outside the frame;
// the result's views point into the frame's bytes. Each returns success or the reason
// code that describes the violation (malformed_packet, protocol_error,
// topic_name_invalid, topic_filter_invalid, topic_alias_invalid, ...); on failure the
// output holds what was decoded so far (decode_connect: at least the version, so that a
// refusal can be encoded in the client's format).
//
// REQUIRES for each: frame.header.type is the decoder's packet type (else
// malformed_packet). `v` is the connection's protocol version; `side` is who decodes.
#pragma once

#include "mqttd/frame_reader.h"
#include "mqttd/packets.h"
#include "mqttd/reason_code.h"
#include "mqttd/types.h"

namespace mqttd {

// CONNECT carries its own version. A protocol name other than "MQTT" and "MQIsdp" gives
// protocol_error (not MQTT at all: close without CONNACK, MQTT-3.1.2-1); a known name
// with a level it does not have gives unsupported_protocol_version with `out.version` v4
// (answer in the 3.1.1 format, MQTT-3.1.2-2). 3.1 ("MQIsdp", level 3) also refuses a
// client id that is empty or longer than 23 bytes (client_identifier_not_valid).
ReasonCode decode_connect(const Frame& frame, Connect& out);
ReasonCode decode_connack(const Frame& frame, ProtocolVersion v, ConnAck& out);
ReasonCode decode_publish(const Frame& frame, ProtocolVersion v, Side side, Publish& out);
ReasonCode decode_puback(const Frame& frame, ProtocolVersion v, PubAck& out);
ReasonCode decode_pubrec(const Frame& frame, ProtocolVersion v, PubRec& out);
ReasonCode decode_pubrel(const Frame& frame, ProtocolVersion v, PubRel& out);
ReasonCode decode_pubcomp(const Frame& frame, ProtocolVersion v, PubComp& out);
ReasonCode decode_subscribe(const Frame& frame, ProtocolVersion v, Subscribe& out);
ReasonCode decode_suback(const Frame& frame, ProtocolVersion v, SubAck& out);
ReasonCode decode_unsubscribe(const Frame& frame, ProtocolVersion v, Unsubscribe& out);
ReasonCode decode_unsuback(const Frame& frame, ProtocolVersion v, UnsubAck& out);
ReasonCode decode_pingreq(const Frame& frame);
ReasonCode decode_pingresp(const Frame& frame);
ReasonCode decode_disconnect(const Frame& frame, ProtocolVersion v, Side side, Disconnect& out);
// 3.x has no AUTH: malformed_packet.
ReasonCode decode_auth(const Frame& frame, ProtocolVersion v, Auth& out);

// Parses one whole packet held in `bytes` (exactly one, as FrameReader would frame
// it) into `frame`, viewing `bytes`. For tests and tools; the broker uses FrameReader.
ReasonCode parse_frame(std::span<const uint8_t> bytes, Frame& frame,
                       uint32_t max_packet_size = kMaxPacketSize);

}  // namespace mqttd
