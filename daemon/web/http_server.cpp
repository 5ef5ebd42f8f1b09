// The web server: see http_server.h.
//
// One Connection template serves both plain TCP and TLS streams (as bmcweb
// does), so limits, routing and headers are written once. Everything runs on
// the daemon's io_context thread; the server's state is shared with the
// connections so that a connection finishing after the server is gone finds
// it marked closed instead of dangling.
#include "http_server.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "config.h"
#include "log.h"
#include "tls.h"

PL_DEFINE_LOG_CATEGORY(WebLog, "web")

namespace porchlight::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr size_t kApiBodyLimit = 64 * 1024;
constexpr std::chrono::seconds kReadTimeout{30};
// Idle keep-alive connections hold a slot of kMaxConnections; a phone that
// left the page gives it back this soon.
constexpr std::chrono::seconds kIdleTimeout{30};
constexpr std::chrono::seconds kWriteTimeout{30};
constexpr size_t kMaxConnections = 64;
// One address may hold only a share of them, so a single machine on the LAN
// (or a page that opens sockets in a loop) cannot take every slot and lock
// the owner out. A browser needs 6 per origin, plus a WebSocket per camera.
constexpr size_t kMaxConnectionsPerClient = 16;
// Beyond kMaxConnections a connection is answered 503; beyond this many more
// it is closed at once, so a flood cannot make us write to everyone.
constexpr size_t kMaxRefusing = 16;
// The www files are a few kilobytes; a larger one is a mistake, not a page.
constexpr std::uintmax_t kMaxStaticFile = 16 * 1024 * 1024;

constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'";

}  // namespace

Response jsonError(unsigned status, std::string message) {
    Response r;
    r.status = status;
    r.body = "{\"error\": " + jsonString(message) + "}";
    return r;
}

namespace {

/// The length of the well-formed UTF-8 sequence \a s starts with, or 0.
size_t utf8Length(std::string_view s) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
    size_t n = 0;
    uint32_t cp = 0;
    if (byte(0) < 0x80)
        return 1;
    if ((byte(0) & 0xE0) == 0xC0) {
        n = 2;
        cp = byte(0) & 0x1F;
    } else if ((byte(0) & 0xF0) == 0xE0) {
        n = 3;
        cp = byte(0) & 0x0F;
    } else if ((byte(0) & 0xF8) == 0xF0) {
        n = 4;
        cp = byte(0) & 0x07;
    } else {
        return 0;
    }
    if (s.size() < n)
        return 0;
    for (size_t i = 1; i < n; ++i) {
        if ((byte(i) & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (byte(i) & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kSmallest[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return n;
}

}  // namespace

std::string jsonString(std::string_view text) {
    std::string out = "\"";
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else if (static_cast<unsigned char>(c) < 0x80) {
                    out += c;
                } else if (size_t n = utf8Length(text.substr(i)); n > 0) {
                    out.append(text.substr(i, n));
                    i += n - 1;
                } else {
                    // JSON is UTF-8: a byte that is not (a decoded "%ff" in a
                    // path, say) becomes U+FFFD, or the answer would not parse.
                    out += "\\ufffd";
                }
        }
    }
    return out + "\"";
}

Handler::~Handler() = default;
BodySource::~BodySource() = default;
WebSocket::~WebSocket() = default;
WebSocketEndpoint::~WebSocketEndpoint() = default;

class ConnectionBase {
public:
    virtual ~ConnectionBase() = default;
    virtual void close() = 0;
    /// Waiting for a request of which no byte has come yet (an idle
    /// keep-alive connection, or one that never sent anything): closing it
    /// loses nothing. Since when, to close the one idle the longest.
    virtual std::optional<std::chrono::steady_clock::time_point> idleSince() const = 0;
};

/// What the server and its connections share.
struct ServerState {
    asio::io_context& io;
    Handler* api = nullptr;  // null once the server is gone
    std::filesystem::path wwwDir;
    std::shared_ptr<asio::ssl::context> tls;
    struct Listener {
        std::unique_ptr<tcp::acceptor> acceptor;
        bool secure = false;
        std::string name;
    };
    std::vector<Listener> listeners;
    std::set<ConnectionBase*> connections;
    std::map<std::string, size_t> perClient;  // connections served, by client address
    size_t refusing = 0;
    size_t refusedUnlogged = 0;
    std::chrono::steady_clock::time_point lastRefusalLog{};
    explicit ServerState(asio::io_context& context) : io(context) {}
};

namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// Decodes %xx once (and '+' as space in queries); nullopt on a bad escape.
std::optional<std::string> percentDecode(std::string_view s, bool plusIsSpace) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size())
                return std::nullopt;
            int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
            if (hi < 0 || lo < 0)
                return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (plusIsSpace && s[i] == '+') {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

std::map<std::string, std::string> parseQuery(std::string_view q) {
    std::map<std::string, std::string> out;
    while (!q.empty()) {
        size_t amp = q.find('&');
        std::string_view item = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
        if (item.empty())
            continue;
        size_t eq = item.find('=');
        auto name = percentDecode(item.substr(0, eq), true);
        auto value = percentDecode(
            eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1), true);
        if (name && value)
            out.emplace(std::move(*name), std::move(*value));
    }
    return out;
}

std::string_view contentTypeFor(const std::filesystem::path& path) {
    static const std::pair<std::string_view, std::string_view> types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    std::string ext = path.extension().string();
    for (auto& [e, type] : types)
        if (ext == e)
            return type;
    return "application/octet-stream";
}

Response textResponse(unsigned status, std::string_view text) {
    Response r;
    r.status = status;
    r.contentType = "text/plain; charset=utf-8";
    r.body = std::string(text) + "\n";
    return r;
}

/// Whether \a inner is \a outer or below it, both canonical.
bool isWithin(const std::filesystem::path& inner, const std::filesystem::path& outer) {
    auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
    return o == outer.end();
}

/// A static file from the www directory. \a path is decoded once; anything
/// that could step outside the directory is refused before touching the disk,
/// and the canonical result is checked again in case of symlinks.
Response serveStatic(const ServerState& state, const std::string& method, const std::string& path,
                     bool& headOnly) {
    headOnly = method == "HEAD";
    if (method != "GET" && method != "HEAD") {
        Response r = textResponse(405, "Method not allowed");
        r.headers.emplace_back("Allow", "GET, HEAD");
        return r;
    }
    if (path.empty() || path.front() != '/' || path.find("..") != std::string::npos ||
        path.find('\0') != std::string::npos || path.find('\\') != std::string::npos)
        return textResponse(404, "Not found");
    std::string relative = path.substr(1);
    if (relative.empty() || relative.back() == '/')
        relative += "index.html";
    std::error_code ec;
    std::filesystem::path file = std::filesystem::weakly_canonical(state.wwwDir / relative, ec);
    if (ec || !isWithin(file, state.wwwDir) || !std::filesystem::is_regular_file(file, ec))
        return textResponse(404, "Not found");
    std::uintmax_t size = std::filesystem::file_size(file, ec);
    if (ec || size > kMaxStaticFile)
        return textResponse(404, "Not found");
    std::ifstream in(file, std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    if (!in)
        return textResponse(404, "Not found");
    Response r;
    r.contentType = std::string(contentTypeFor(file));
    r.body = body.str();
    // Pages must be revalidated so an update shows at once; the rest may be
    // cached but is small enough that revalidating costs nothing either.
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
}

template <typename Stream>
class Connection : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
public:
    Connection(std::shared_ptr<ServerState> state, Stream stream, bool secure, bool refuse,
               std::string client)
        : state_(std::move(state)),
          stream_(std::move(stream)),
          secure_(secure),
          refuse_(refuse),
          client_(std::move(client)) {
        if (refuse_) {
            ++state_->refusing;
        } else {
            state_->connections.insert(this);
            ++state_->perClient[client_];
        }
    }
    ~Connection() override {
        cancelStream();
        if (refuse_) {
            --state_->refusing;
        } else {
            state_->connections.erase(this);
            if (auto it = state_->perClient.find(client_);
                it != state_->perClient.end() && --it->second == 0)
                state_->perClient.erase(it);
        }
    }

    void start() {
        if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
            beast::get_lowest_layer(stream_).expires_after(kReadTimeout);
            stream_.async_handshake(asio::ssl::stream_base::server,
                                    [self = this->shared_from_this()](beast::error_code ec) {
                                        if (ec) {
                                            PL_LOG(WebLog, Debug)
                                                << "TLS handshake with " << self->client_
                                                << " failed: " << ec.message();
                                            return;
                                        }
                                        self->afterHandshake();
                                    });
        } else {
            afterHandshake();
        }
    }

    void close() override {
        // Cancelling a stream can drop the last reference to this connection
        // (its body source holds it): keep it alive until the socket is shut.
        auto self = this->shared_from_this();
        closing_ = true;
        cancelStream();
        beast::error_code ec;
        beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(stream_).close();
    }

    std::optional<std::chrono::steady_clock::time_point> idleSince() const override {
        if (closing_ || !waiting_ || buffer_.size() > 0)
            return std::nullopt;
        return waitingSince_;
    }

private:
    void afterHandshake() {
        if (refuse_) {
            Response r = jsonError(503, "Too many connections; try again in a moment.");
            send(std::move(r), false, false);
            return;
        }
        readRequest(kReadTimeout);
    }

    void readRequest(std::chrono::seconds timeout) {
        waiting_ = true;
        waitingSince_ = std::chrono::steady_clock::now();
        parser_.emplace();
        parser_->header_limit(kHeaderLimit);
        parser_->body_limit(kApiBodyLimit);
        beast::get_lowest_layer(stream_).expires_after(timeout);
        http::async_read_header(
            stream_, buffer_, *parser_,
            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                self->waiting_ = false;
                if (ec)
                    return self->readFailed(ec);
                // Refuse an oversized body before reading it.
                if (auto length = self->parser_->content_length();
                    length && *length > kApiBodyLimit)
                    return self->readFailed(http::error::body_limit);
                // The whole request, header included, counts against the
                // read timeout, not just the wait for its first byte.
                beast::get_lowest_layer(self->stream_).expires_after(kReadTimeout);
                http::async_read(self->stream_, self->buffer_, *self->parser_,
                                 [self](beast::error_code ec2, size_t) {
                                     if (ec2)
                                         return self->readFailed(ec2);
                                     self->dispatch();
                                 });
            });
    }

    void readFailed(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
            ec == asio::ssl::error::stream_truncated || ec == asio::error::eof)
            return close();
        PL_LOG(WebLog, Info) << "bad request from " << client_ << ": " << ec.message();
        if (ec == http::error::header_limit)
            return send(jsonError(431, "The request's headers are too large (8 KiB at most)."),
                        false, false);
        if (ec == http::error::body_limit)
            return send(jsonError(413, "The request's body is too large (64 KiB at most)."), false,
                        false);
        send(jsonError(400, "The request is not valid HTTP/1.1."), false, false);
    }

    void dispatch() {
        const auto& msg = parser_->get();
        bool keepAlive = msg.keep_alive();
        std::string target(msg.target());
        if (target.empty() || target.front() != '/')
            return send(jsonError(400, "The request target must be a path."), false, false);
        size_t q = target.find('?');
        auto path = percentDecode(std::string_view(target).substr(0, q), false);
        if (!path)
            return send(textResponse(400, "Bad request"), false, false);

        if (*path == "/api" || path->starts_with("/api/")) {
            Request request;
            request.method = std::string(msg.method_string());
            request.path = std::move(*path);
            if (q != std::string::npos)
                request.query = parseQuery(std::string_view(target).substr(q + 1));
            for (const auto& field : msg) {
                std::string name(field.name_string());
                std::transform(name.begin(), name.end(), name.begin(),
                               [](unsigned char c) { return std::tolower(c); });
                auto [it, inserted] = request.headers.emplace(name, field.value());
                if (!inserted)
                    it->second += ", " + std::string(field.value());
            }
            request.body = msg.body();
            request.clientAddress = client_;
            request.secure = secure_;
            request.webSocketUpgrade = beast::websocket::is_upgrade(msg);
            // A WebSocket handshake is an ordinary request to the API too (auth
            // stays with the Handler); it accepts by answering 101 with an
            // endpoint, and acceptWebSocket() takes the stream over.
            if (!state_->api)
                return close();
            auto self = this->shared_from_this();
            auto answered = std::make_shared<bool>(false);
            state_->api->handle(request, [self, keepAlive, answered](Response response) {
                if (*answered)
                    return;  // exactly once, whatever the Handler does
                *answered = true;
                // The Handler may answer from within handle(); go through the
                // loop so the stack unwinds and ordering is the same always.
                asio::post(self->stream_.get_executor(),
                           [self, keepAlive, r = std::move(response)]() mutable {
                               if (r.webSocket)
                                   return self->acceptWebSocket(std::move(r));
                               self->send(std::move(r), keepAlive, false);
                           });
            });
            return;
        }
        bool headOnly = false;
        Response r = serveStatic(*state_, std::string(msg.method_string()), *path, headOnly);
        send(std::move(r), keepAlive, headOnly);
    }

    /// The API accepted a WebSocket handshake: the stream moves to a
    /// WebSocketConnection, which answers 101 and serves it from then on.
    void acceptWebSocket(Response r);

    /// The status line and headers every answer has, buffered or streamed:
    /// the security headers, the handler's own, and no-store unless the
    /// handler chose a Cache-Control (API answers hold private data).
    template <typename Body>
    void head(http::response<Body>& res, const Response& r, bool keepAlive) const {
        res.version(11);
        res.result(r.status);
        res.set(http::field::server, "porchlightd");
        res.set(http::field::content_type, r.contentType);
        res.set("Content-Security-Policy", kContentSecurityPolicy);
        res.set("X-Content-Type-Options", "nosniff");
        res.set("Referrer-Policy", "no-referrer");
        res.set("X-Frame-Options", "DENY");
        if (secure_)
            res.set("Strict-Transport-Security", "max-age=31536000");
        bool hasCacheControl = false;
        for (auto& [name, value] : r.headers) {
            res.insert(name, value);
            hasCacheControl |= beast::iequals(name, "cache-control");
        }
        if (!hasCacheControl)
            res.set(http::field::cache_control, "no-store");
        res.keep_alive(keepAlive);
    }

    void send(Response r, bool keepAlive, bool headOnly) {
        if (r.stream && !headOnly)
            return sendStream(std::move(r), keepAlive);
        auto res = std::make_shared<http::response<http::string_body>>();
        head(*res, r, keepAlive);
        size_t length = r.body.size();
        if (!headOnly)
            res->body() = std::move(r.body);
        res->content_length(length);
        if (r.status >= 500)
            PL_LOG(WebLog, Warning) << client_ << ": " << r.status;
        beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
        // A HEAD answer carries the length of the body it leaves out.
        auto sr = std::make_shared<http::response_serializer<http::string_body>>(*res);
        if (headOnly)
            sr->split(true);
        bool error = r.status >= 400;
        auto done = [self = this->shared_from_this(), res, sr, keepAlive, error](
                        beast::error_code ec, size_t) {
            if (ec)
                return self->close();
            if (!keepAlive)
                return error ? self->lingeringClose() : self->finish();
            self->readRequest(kIdleTimeout);
        };
        if (headOnly)
            http::async_write_header(stream_, *sr, std::move(done));
        else
            http::async_write(stream_, *sr, std::move(done));
    }

    /// After an error answer the client may still be sending (a body we
    /// refused); closing now would reset the connection and lose the answer,
    /// so stop sending and drain what arrives for a short while.
    void lingeringClose() {
        auto& socket = beast::get_lowest_layer(stream_).socket();
        beast::error_code ec;
        socket.shutdown(tcp::socket::shutdown_send, ec);
        if (ec)
            return close();
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
        drain();
    }
    void drain() {
        beast::get_lowest_layer(stream_).async_read_some(
            asio::buffer(discard_),
            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                if (ec)
                    return self->close();
                self->drain();
            });
    }

    void finish() {
        if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
            beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
            stream_.async_shutdown(
                [self = this->shared_from_this()](beast::error_code) { self->close(); });
        } else {
            close();
        }
    }

    std::shared_ptr<ServerState> state_;
    Stream stream_;
    bool secure_;
    bool refuse_;
    std::string client_;
    // A new connection (TLS handshake included) counts as waiting for its request.
    bool waiting_ = true;
    bool closing_ = false;
    std::chrono::steady_clock::time_point waitingSince_ = std::chrono::steady_clock::now();
    beast::flat_buffer buffer_;
    std::array<char, 4096> discard_;
    std::optional<http::request_parser<http::string_body>> parser_;

    // ---- Streamed bodies (playback, export): see BodySource in http.h.
    // One piece is written at a time and the next is asked for only when it
    // is out, so the socket's pace sets the producer's. A write that fails
    // (the client went away) or close() cancels the source.

    void sendStream(Response r, bool keepAlive) {
        auto res = std::make_shared<http::response<http::empty_body>>();
        head(*res, r, keepAlive);
        if (r.streamLength)
            res->content_length(*r.streamLength);
        else
            res->chunked(true);
        streamSource_ = std::move(r.stream);
        streamLeft_ = r.streamLength;
        auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
        beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
        http::async_write_header(
            stream_, *sr,
            [self = this->shared_from_this(), res, sr, keepAlive](beast::error_code ec, size_t) {
                if (ec)
                    return self->close();
                self->nextPiece(keepAlive);
            });
    }

    void nextPiece(bool keepAlive) {
        auto source = streamSource_;
        if (!source)
            return;  // cancelled
        // Waiting for the producer is not a stalled write: no timeout then.
        beast::get_lowest_layer(stream_).expires_never();
        source->next([self = this->shared_from_this(), source, keepAlive](BodySource::Piece piece) {
            if (self->streamSource_ != source)
                return;  // cancelled meanwhile
            self->writePiece(std::move(piece), keepAlive);
        });
    }

    void writePiece(BodySource::Piece piece, bool keepAlive) {
        if (piece.failed) {
            PL_LOG(WebLog, Info) << client_ << ": a streamed answer stopped before its end";
            return close();
        }
        auto data = std::make_shared<std::string>(std::move(piece.data));
        const bool last = piece.last;
        auto done = [self = this->shared_from_this(), data, keepAlive, last](beast::error_code ec,
                                                                             size_t) {
            if (ec) {
                PL_LOG(WebLog, Debug) << self->client_ << " left during a streamed answer";
                return self->close();
            }
            if (!last)
                return self->nextPiece(keepAlive);
            self->streamSource_.reset();
            if (!keepAlive)
                return self->finish();
            self->readRequest(kIdleTimeout);
        };
        beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
        if (streamLeft_) {
            // Content-Length was promised: exactly that many bytes, or a cut connection.
            if (data->size() > *streamLeft_ || (last && data->size() != *streamLeft_)) {
                PL_LOG(WebLog, Warning) << client_ << ": a streamed answer's length is wrong";
                return close();
            }
            *streamLeft_ -= data->size();
            if (data->empty())
                return asio::post(stream_.get_executor(),
                                  [done = std::move(done)]() mutable { done({}, 0); });
            asio::async_write(stream_, asio::buffer(*data), std::move(done));
        } else if (last) {
            if (data->empty())
                asio::async_write(stream_, http::make_chunk_last(), std::move(done));
            else
                asio::async_write(stream_,
                                  beast::buffers_cat(http::make_chunk(asio::buffer(*data)),
                                                     http::make_chunk_last()),
                                  std::move(done));
        } else if (data->empty()) {
            // An empty chunk would end the body: skip it.
            asio::post(stream_.get_executor(), [done = std::move(done)]() mutable { done({}, 0); });
        } else {
            asio::async_write(stream_, http::make_chunk(asio::buffer(*data)), std::move(done));
        }
    }

    void cancelStream() {
        if (auto source = std::move(streamSource_)) {
            streamSource_.reset();
            source->cancel();
        }
    }

    std::shared_ptr<BodySource> streamSource_;
    std::optional<uint64_t> streamLeft_;
};

// ---- WebSocket ----------------------------------------------------------

// A browser's messages to us are small commands; anything bigger is refused.
constexpr size_t kWebSocketReadLimit = 4 * 1024;
// The send queue's bounds: beyond them send() refuses, so a stalled client
// costs at most this much memory (the live view drops frames well before).
constexpr size_t kWebSocketQueueBytes = 8 * 1024 * 1024;
constexpr size_t kWebSocketQueueMessages = 512;
constexpr std::chrono::seconds kWebSocketIdleTimeout{60};

/// One upgraded connection: the WebSocket the API's endpoint writes to.
/// Registered with the server like an HTTP connection, so it counts against
/// kMaxConnections and closes with the server.
template <typename Stream>
class WebSocketConnection : public ConnectionBase,
                            public WebSocket,
                            public std::enable_shared_from_this<WebSocketConnection<Stream>> {
public:
    WebSocketConnection(std::shared_ptr<ServerState> state, Stream stream,
                        std::shared_ptr<WebSocketEndpoint> endpoint, std::string client)
        : state_(std::move(state)),
          ws_(std::move(stream)),
          endpoint_(std::move(endpoint)),
          client_(std::move(client)) {
        state_->connections.insert(this);
        ++state_->perClient[client_];
    }
    ~WebSocketConnection() override {
        state_->connections.erase(this);
        if (auto it = state_->perClient.find(client_);
            it != state_->perClient.end() && --it->second == 0)
            state_->perClient.erase(it);
    }

    // A WebSocket streams (live view): never idle, so never closed to make
    // room; it still counts against the per-address and total caps.
    std::optional<std::chrono::steady_clock::time_point> idleSince() const override {
        return std::nullopt;
    }

    void start(http::request<http::string_body> request) {
        // The WebSocket's own timeouts (handshake, idle pings) replace the
        // HTTP ones from here on.
        beast::get_lowest_layer(ws_).expires_never();
        // Browsers never send on their own: ping them, and give up on one
        // that stops answering.
        auto timeout = beast::websocket::stream_base::timeout::suggested(beast::role_type::server);
        timeout.idle_timeout = kWebSocketIdleTimeout;
        timeout.keep_alive_pings = true;
        ws_.set_option(timeout);
        ws_.set_option(
            beast::websocket::stream_base::decorator([](beast::websocket::response_type& res) {
                res.set(http::field::server, "porchlightd");
                res.set(http::field::cache_control, "no-store");
            }));
        ws_.read_message_max(kWebSocketReadLimit);
        ws_.binary(true);
        ws_.async_accept(request, [self = this->shared_from_this()](beast::error_code ec) {
            if (ec) {
                PL_LOG(WebLog, Info)
                    << "WebSocket handshake with " << self->client_ << " failed: " << ec.message();
                return self->ended();
            }
            self->open_ = true;
            if (self->endpoint_)
                self->endpoint_->opened(self);
            self->read();
        });
    }

    // WebSocket
    bool send(Message message, bool text) override {
        if (!open_ || closing_ || !message)
            return false;
        if (queue_.size() >= kWebSocketQueueMessages ||
            queuedBytes_ + message->size() > kWebSocketQueueBytes)
            return false;
        queuedBytes_ += message->size();
        queue_.push_back({std::move(message), text});
        if (!writing_)
            writeNext();
        return true;
    }
    size_t queuedBytes() const override { return queuedBytes_; }
    size_t queuedMessages() const override { return queue_.size(); }
    bool isOpen() const override { return open_ && !closing_; }
    void close(uint16_t code, const std::string& reason) override {
        if (!open_ || closing_)
            return;
        closing_ = true;
        closeReason_ = beast::websocket::close_reason(code);
        // A close frame has room for 123 bytes of reason.
        closeReason_.reason = reason.substr(0, 123);
        if (!writing_)
            sendClose();
    }

    // ConnectionBase: the server is going away.
    void close() override {
        beast::error_code ec;
        beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(ws_).close();
    }

private:
    struct Queued {
        Message message;
        bool text = false;
    };

    void read() {
        ws_.async_read(
            readBuffer_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
                if (ec)
                    return self->ended();
                const std::string message = beast::buffers_to_string(self->readBuffer_.data());
                self->readBuffer_.consume(self->readBuffer_.size());
                if (self->endpoint_)
                    self->endpoint_->received(message, self->ws_.got_text());
                self->read();
            });
    }

    void writeNext() {
        writing_ = true;
        ws_.text(queue_.front().text);
        ws_.async_write(asio::buffer(*queue_.front().message),
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                            self->writing_ = false;
                            if (ec)
                                return self->ended();
                            self->queuedBytes_ -= self->queue_.front().message->size();
                            self->queue_.pop_front();
                            if (!self->queue_.empty())
                                return self->writeNext();
                            if (self->closing_)
                                self->sendClose();
                        });
    }

    /// Everything queued is written: say goodbye. The read loop ends when
    /// the client answers the close frame (or the timeout gives up on it).
    void sendClose() {
        writing_ = true;
        ws_.async_close(closeReason_, [self = this->shared_from_this()](beast::error_code ec) {
            self->writing_ = false;
            if (ec)
                self->ended();
        });
    }

    /// The connection is over, for whatever reason: tell the endpoint once
    /// and drop it (it holds this socket; that cycle ends here).
    void ended() {
        open_ = false;
        queue_.clear();
        queuedBytes_ = 0;
        if (auto endpoint = std::move(endpoint_))
            endpoint->closed();
        if (!writing_)
            close();
    }

    std::shared_ptr<ServerState> state_;
    beast::websocket::stream<Stream> ws_;
    std::shared_ptr<WebSocketEndpoint> endpoint_;
    std::string client_;
    beast::flat_buffer readBuffer_;
    std::deque<Queued> queue_;
    size_t queuedBytes_ = 0;
    bool open_ = false;
    bool writing_ = false;
    bool closing_ = false;
    beast::websocket::close_reason closeReason_;
};

template <typename Stream>
void Connection<Stream>::acceptWebSocket(Response r) {
    if (r.status != 101 || !parser_ || !beast::websocket::is_upgrade(parser_->get())) {
        // The API offered a WebSocket for a request that is not a handshake.
        PL_LOG(WebLog, Error) << "the API answered a plain request with a WebSocket";
        return send(jsonError(500, "internal error: this route needs a WebSocket handshake"), false,
                    false);
    }
    // From here on the WebSocket counts, not this connection.
    state_->connections.erase(this);
    auto ws = std::make_shared<WebSocketConnection<Stream>>(state_, std::move(stream_),
                                                            std::move(r.webSocket), client_);
    ws->start(parser_->release());
}

/// At the connection cap, makes room by closing the connection idle the
/// longest (see ConnectionBase::idleSince); false when none is idle.
bool closeOneIdle(ServerState& state) {
    ConnectionBase* oldest = nullptr;
    std::chrono::steady_clock::time_point since{};
    for (ConnectionBase* c : state.connections)
        if (auto s = c->idleSince(); s && (!oldest || *s < since)) {
            oldest = c;
            since = *s;
        }
    if (oldest)
        oldest->close();
    return oldest != nullptr;
}

/// Logs refused connections at most every 10 s: a flood must not flood the journal.
void noteRefusal(ServerState& state, const std::string& client, bool tooManyFromClient) {
    ++state.refusedUnlogged;
    const auto now = std::chrono::steady_clock::now();
    if (now - state.lastRefusalLog < std::chrono::seconds(10))
        return;
    PL_LOG(WebLog, Warning) << "refused " << state.refusedUnlogged
                            << " connection(s) since the last report; the latest from " << client
                            << (tooManyFromClient ? ", which has too many open already"
                                                  : ": the server is full and none is idle");
    state.refusedUnlogged = 0;
    state.lastRefusalLog = now;
}

void accept(const std::shared_ptr<ServerState>& state, size_t index) {
    auto& listener = state->listeners[index];
    listener.acceptor->async_accept([weak = std::weak_ptr<ServerState>(state), index](
                                        beast::error_code ec, tcp::socket socket) {
        auto state = weak.lock();
        if (!state || !state->api)
            return;
        auto& listener = state->listeners[index];
        if (ec) {
            if (ec == asio::error::operation_aborted)
                return;
            PL_LOG(WebLog, Warning) << "accept on " << listener.name << ": " << ec.message();
        } else {
            beast::error_code peerError;
            auto peer = socket.remote_endpoint(peerError);
            std::string client = peerError ? std::string() : peer.address().to_string();
            auto mine = state->perClient.find(client);
            const bool tooManyFromClient =
                mine != state->perClient.end() && mine->second >= kMaxConnectionsPerClient;
            // A connection being closed counts until its handlers have run.
            bool refuse = tooManyFromClient ||
                          (state->connections.size() >= kMaxConnections && !closeOneIdle(*state));
            if (refuse)
                noteRefusal(*state, client, tooManyFromClient);
            if (refuse && state->refusing >= kMaxRefusing) {
                socket.close(peerError);
            } else {
                beast::tcp_stream stream(std::move(socket));
                if (listener.secure)
                    std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
                        state, beast::ssl_stream<beast::tcp_stream>(std::move(stream), *state->tls),
                        true, refuse, client)
                        ->start();
                else
                    std::make_shared<Connection<beast::tcp_stream>>(state, std::move(stream), false,
                                                                    refuse, client)
                        ->start();
            }
        }
        accept(state, index);
    });
}

struct ListenSpec {
    tcp::endpoint endpoint;
    bool secure = true;
};

Expected<ListenSpec> parseListen(std::string text, bool plainHttp) {
    ListenSpec spec;
    spec.secure = !plainHttp;
    if (text.starts_with("https://")) {
        text.erase(0, 8);
        spec.secure = true;
    } else if (text.starts_with("http://")) {
        text.erase(0, 7);
        spec.secure = false;
    }
    size_t colon = text.rfind(':');
    if (colon == std::string::npos)
        return makeError("[web] listen " + text + " must be ADDRESS:PORT");
    std::string host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    int port = -1;
    try {
        port = std::stoi(text.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (ec || port < 0 || port > 65535)
        return makeError("[web] listen " + text + " must be ADDRESS:PORT");
    spec.endpoint = tcp::endpoint(address, static_cast<uint16_t>(port));
    return spec;
}

}  // namespace

HttpServer::HttpServer(std::shared_ptr<ServerState> state) : state_(std::move(state)) {}

HttpServer::~HttpServer() {
    state_->api = nullptr;
    for (auto& l : state_->listeners) {
        beast::error_code ec;
        l.acceptor->close(ec);
    }
    // close() only cancels; the connections end as their handlers run.
    // Closing one can end another (a playback's source, say): close only those
    // still registered.
    for (ConnectionBase* c :
         std::vector<ConnectionBase*>(state_->connections.begin(), state_->connections.end()))
        if (state_->connections.count(c))
            c->close();
}

std::vector<uint16_t> HttpServer::ports() const {
    std::vector<uint16_t> out;
    for (auto& l : state_->listeners) {
        beast::error_code ec;
        out.push_back(l.acceptor->local_endpoint(ec).port());
    }
    return out;
}

Expected<std::unique_ptr<HttpServer>> HttpServer::start(asio::io_context& io,
                                                        const WebConfig& config,
                                                        const std::filesystem::path& stateDir,
                                                        const std::filesystem::path& wwwDir,
                                                        Handler& api) {
    auto state = std::make_shared<ServerState>(io);
    state->api = &api;
    std::error_code fsError;
    state->wwwDir = std::filesystem::weakly_canonical(wwwDir, fsError);
    if (fsError || !std::filesystem::is_directory(state->wwwDir, fsError))
        return makeError("cannot serve the web UI from " + wwwDir.string() +
                         ": not a directory (is porchlight installed completely?)");

    std::vector<ListenSpec> specs;
    bool anySecure = false;
    for (const std::string& entry : config.listen) {
        auto spec = parseListen(entry, config.plainHttp);
        if (!spec)
            return spec.error();
        if (!spec->secure && !config.plainHttp && !spec->endpoint.address().is_loopback())
            return makeError("[web] listen " + entry +
                             ": plain HTTP is allowed only on loopback addresses; use HTTPS "
                             "(leave out \"http://\") or set [web] plain_http = true if a "
                             "proxy in front of porchlightd provides HTTPS");
        anySecure |= spec->secure;
        specs.push_back(*spec);
    }
    if (anySecure) {
        auto files = ensureCertificate(config, stateDir);
        if (!files)
            return files.error();
        auto ctx = makeServerContext(*files);
        if (!ctx)
            return ctx.error();
        state->tls = *ctx;
    }
    for (size_t i = 0; i < specs.size(); ++i) {
        ServerState::Listener l;
        l.secure = specs[i].secure;
        l.name = config.listen[i];
        l.acceptor = std::make_unique<tcp::acceptor>(io);
        beast::error_code ec;
        const tcp::endpoint& ep = specs[i].endpoint;
        l.acceptor->open(ep.protocol(), ec);
        if (!ec)
            l.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
        // "[::]" and "0.0.0.0" on the same port are separate listeners.
        if (!ec && ep.address().is_v6())
            l.acceptor->set_option(asio::ip::v6_only(true), ec);
        if (!ec)
            l.acceptor->bind(ep, ec);
        if (!ec)
            l.acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            return makeError("cannot listen on [web] listen " + l.name + ": " + ec.message());
        PL_LOG(WebLog, Notice) << "web UI on " << l.name
                               << (l.secure ? " with HTTPS" : " with plain HTTP") << " (port "
                               << l.acceptor->local_endpoint(ec).port() << ")";
        state->listeners.push_back(std::move(l));
    }
    for (size_t i = 0; i < state->listeners.size(); ++i)
        accept(state, i);
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

}  // namespace porchlight::web
