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
    std::string clientAddress;  // the peer's IP address, for rate limits and the audit log
    bool secure = false;        // arrived over TLS
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
