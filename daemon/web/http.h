// The small value types shared by the web server and the API behind it.
//
// Kept free of Boost.Beast so that the API router and its tests compile
// quickly; the server translates between these and Beast's messages.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace porchlight::web {

struct Request {
    std::string method;                          // "GET", "POST", ... as sent
    std::string path;                            // percent-decoded once, without the query
    std::map<std::string, std::string> query;    // decoded names and values
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string clientAddress;      // the peer's IP address, for rate limits and the audit log
    bool secure = false;            // arrived over TLS
    bool webSocketUpgrade = false;  // a WebSocket handshake (Upgrade: websocket)
};

/// A response body made piece by piece (playback, export): the server asks
/// for the next piece only once the previous one is written, so a slow
/// client slows the producer down instead of filling memory.
class BodySource {
public:
    struct Piece {
        std::string data;
        bool last = false;    // the body ends after \a data
        bool failed = false;  // cannot go on: the connection is cut (the body is incomplete)
    };
    virtual ~BodySource();
    /// Produce the next piece and hand it to \a give on the loop thread,
    /// exactly once, now or later, unless cancel() came first.
    virtual void next(std::function<void(Piece)> give) = 0;
    /// The client went away or the server is closing: stop working; a
    /// pending \a give may be dropped without a call.
    virtual void cancel() = 0;
};
class WebSocketEndpoint;

struct Response {
    unsigned status = 200;
    std::string contentType = "application/json";
    std::string body;
    /// Extra headers (Set-Cookie, ...); the server adds the security headers itself.
    std::vector<std::pair<std::string, std::string>> headers;
    /// When set, \a body is ignored and the body comes from here: chunked,
    /// or with Content-Length when \a streamLength is known.
    std::shared_ptr<BodySource> stream;
    std::optional<uint64_t> streamLength;
    /// Set (with status 101) to accept a WebSocket handshake: the server
    /// completes it and hands the socket to this endpoint.
    std::shared_ptr<WebSocketEndpoint> webSocket;
};

/// One accepted WebSocket, as the API sees it; the server implements it.
/// Only used on the loop thread.
class WebSocket {
public:
    virtual ~WebSocket();
    using Message = std::shared_ptr<const std::string>;
    /// Queues a message (binary, or text when \a text). False when the socket
    /// is closed or its send queue is full: the message was not queued.
    virtual bool send(Message message, bool text) = 0;
    /// What is queued and not yet written.
    virtual size_t queuedBytes() const = 0;
    virtual size_t queuedMessages() const = 0;
    /// Sends a close frame (RFC 6455 \a code, \a reason for a person) after
    /// what is queued, and ends the connection.
    virtual void close(uint16_t code, const std::string& reason) = 0;
    virtual bool isOpen() const = 0;
};

/// What takes over an upgraded connection.
class WebSocketEndpoint {
public:
    virtual ~WebSocketEndpoint();
    /// The handshake is done: \a socket may be used until closed() runs.
    virtual void opened(std::shared_ptr<WebSocket> socket) = 0;
    /// A message from the browser (at most a few kilobytes).
    virtual void received(const std::string& /*message*/, bool /*text*/) {}
    /// The connection is gone (either side closed it, or it failed); also
    /// when the handshake failed and opened() never ran.
    virtual void closed() = 0;
};

/// {"error": message}, with \a message written for a person.
Response jsonError(unsigned status, std::string message);

/// Quotes \a text as a JSON string, escapes included.
std::string jsonString(std::string_view text);

/// What answers /api/: the router decides everything there, authentication
/// included, so that no route can be reached around it.
class Handler {
public:
    virtual ~Handler();
    /// \a respond must be called exactly once, possibly later from the event loop.
    virtual void handle(const Request& request, std::function<void(Response)> respond) = 0;
};

}  // namespace porchlight::web
