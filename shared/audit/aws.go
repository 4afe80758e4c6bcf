package audit

import "log/slog"

// AWSSink is AWS mode's sink for requests: each event is written to the
// function's log first, then put on the EventBridge bus before Record
// returns. An EventBridge outage therefore loses nothing (the log holds
// every event), and Record still fails, so the API can refuse a reveal it
// could not audit on the bus.
func AWSSink(logger *slog.Logger, eb EventBridgeAPI, bus string, opts ...EventBridgeOption) Sink {
	return Multi{LogSink{Logger: logger}, NewEventBridgeSink(eb, bus, opts...)}
}
